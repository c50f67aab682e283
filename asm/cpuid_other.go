//go:build noasm || !amd64

package asm

// HasCPUID is false: CPUID is an amd64 instruction and this build has no
// assembly for it (another GOARCH, or the noasm tag).
const HasCPUID = false

// CPUID returns zeros: there is no CPUID instruction to execute here (see
// HasCPUID and the amd64 CPUID in cpuid_amd64.go).
func CPUID(leaf, sub uint32) (eax, ebx, ecx, edx uint32) { return 0, 0, 0, 0 }
