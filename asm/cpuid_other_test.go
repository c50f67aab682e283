//go:build noasm || !amd64

package asm

import "testing"

// TestCPUID: without the instruction, HasCPUID is false and CPUID returns
// zeros for every leaf.
func TestCPUID(t *testing.T) {
	if HasCPUID {
		t.Fatal("HasCPUID is true in a build without CPUID assembly")
	}
	for _, leaf := range []uint32{0, 1, 0x80000000} {
		if a, b, c, d := CPUID(leaf, 0); a|b|c|d != 0 {
			t.Errorf("CPUID(%#x, 0) = %#x %#x %#x %#x, want zeros", leaf, a, b, c, d)
		}
	}
}
