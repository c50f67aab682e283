//go:build !noasm

package asm

// pauseAsm executes one PAUSE. Body: pause_amd64.s; reference: pauseGeneric.
//
//go:noescape
func pauseAsm()

// spinAsm executes n > 0 PAUSE instructions. Body: pause_amd64.s;
// reference: spinGeneric.
//
//go:noescape
func spinAsm(n int)
