//go:build !noasm

package asm

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

// extLeafEDX returns EDX of the extended CPUID leaf, 0 if the CPU does not
// have it (CPUID(0x80000000, 0) reports the highest extended leaf).
func extLeafEDX(leaf uint32) uint32 {
	if maxExt, _, _, _ := CPUID(0x80000000, 0); maxExt < leaf {
		return 0
	}
	_, _, _, edx := CPUID(leaf, 0)
	return edx
}

// detectInvariantTSC reads CPUID 0x80000007 EDX bit 8.
func detectInvariantTSC() bool { return extLeafEDX(0x80000007)&(1<<8) != 0 }

// detectRDTSCP reads CPUID 0x80000001 EDX bit 27.
func detectRDTSCP() bool { return extLeafEDX(0x80000001)&(1<<27) != 0 }

// detectClock picks the TSC when it is invariant, else the monotonic clock.
func detectClock() *clock {
	return pickClockAMD64(detectInvariantTSC(), detectRDTSCP())
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
