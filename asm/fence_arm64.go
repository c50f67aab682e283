//go:build !noasm

package asm

// storeFence is one DMB ISHST. Body: fence_arm64.s; reference:
// storeFenceGeneric.
//
//go:noescape
func storeFence()
