//go:build noasm || (!amd64 && !arm64)

package asm

// pauseAsm is pauseGeneric where this package has no assembly.
func pauseAsm() { pauseGeneric() }

// spinAsm is spinGeneric where this package has no assembly.
func spinAsm(n int) { spinGeneric(n) }
