//go:build !noasm

package asm

// HasCPUID reports whether CPUID executes the instruction: true on amd64
// without the noasm tag, false elsewhere (cpuid_other.go).
const HasCPUID = true

// CPUID executes the CPUID instruction with EAX=leaf and ECX=sub and returns
// the four registers. It exists because Go has no CPUID: the standard
// library keeps its own in internal/cpu, and golang.org/x/sys/cpu decodes a
// fixed set of feature flags but exposes neither the raw registers nor the
// vendor, brand, family/model or cache leaves. Leaves above the maximum
// (CPUID(0, 0) for the basic range, CPUID(0x80000000, 0) for the extended
// one) return undefined values: check the maximum first.
//
// Cost: CPUID is a serialising instruction, on the order of a hundred cycles
// on bare metal, and under a hypervisor each execution traps to it, which
// costs microseconds. Call it at setup (this package does, at init, for the
// clock), never on a message path.
//
// Where HasCPUID is false (other GOARCH, noasm) CPUID returns zeros.
// Body: cpuid_amd64.s.
//
//go:noescape
func CPUID(leaf, sub uint32) (eax, ebx, ecx, edx uint32)
