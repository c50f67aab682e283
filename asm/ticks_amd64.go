//go:build !noasm

package asm

import "github.com/klauspost/cpuid/v2"

// ticksAsm is Ticks: RDTSCP, LFENCE;RDTSC or a tail jump to ticksGeneric,
// as ticksMode says. Body: ticks_amd64.s; reference: ticksGeneric.
//
//go:noescape
func ticksAsm() uint64

// ticksHW reads the TSC after an LFENCE (for CPUs without RDTSCP).
// Body: ticks_amd64.s; reference: ticksGeneric.
//
//go:noescape
func ticksHW() uint64

// ticksPHW executes RDTSCP: the TSC and IA32_TSC_AUX (Ticks and TicksP
// where the CPU has RDTSCP). Body: ticks_amd64.s; reference: ticksGeneric
// and getcpu.
//
//go:noescape
func ticksPHW() (ticks uint64, aux uint32)

// cpuidex executes CPUID with EAX=leaf, ECX=sub. Body: ticks_amd64.s.
// klauspost/cpuid does not expose leaf 0x80000007's invariant-TSC bit.
//
//go:noescape
func cpuidex(leaf, sub uint32) (eax, ebx, ecx, edx uint32)

// detectInvariantTSC reads CPUID 0x80000007 EDX bit 8, after checking that
// the extended leaf exists.
func detectInvariantTSC() bool {
	if maxExt, _, _, _ := cpuidex(0x80000000, 0); maxExt < 0x80000007 {
		return false
	}
	_, _, _, edx := cpuidex(0x80000007, 0)
	return edx&(1<<8) != 0
}

// detectClock picks the TSC when it is invariant, else the monotonic clock.
func detectClock() *clock {
	return pickClockAMD64(detectInvariantTSC(), cpuid.CPU.Supports(cpuid.RDTSCP))
}

// pickClockAMD64 is detectClock's decision, separated so tests can walk every
// branch.
func pickClockAMD64(invariant, rdtscp bool) *clock {
	if !invariant {
		return monotonicClock("TSC not invariant: CPUID 0x80000007 EDX[8] is clear")
	}
	if rdtscp {
		return &clock{mode: clockRDTSCP,
			source: "tsc: RDTSCP, invariant TSC (CPUID 0x80000007 EDX[8]), rate calibrated against the monotonic clock; TicksP: RDTSCP, cpu from TSC_AUX"}
	}
	return &clock{mode: clockCounter,
		source: "tsc: LFENCE;RDTSC (no RDTSCP), invariant TSC (CPUID 0x80000007 EDX[8]), rate calibrated against the monotonic clock; TicksP: + getcpu"}
}
