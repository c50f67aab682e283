//go:build !linux

package asm

// getcpu returns 0: outside Linux this package does not know the CPU number.
func getcpu() uint32 { return 0 }
