//go:build (noasm && !amd64) || (!amd64 && !arm64)

package asm

// storeFence is storeFenceGeneric where this package has no assembly and
// the CPU may reorder stores.
func storeFence() { storeFenceGeneric() }
