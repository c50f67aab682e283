//go:build !noasm

package asm

// ticksAsm is Ticks: ISB;MRS CNTVCT_EL0, or a tail jump to ticksGeneric,
// as ticksMode says. Body: ticks_arm64.s; reference: ticksGeneric.
//
//go:noescape
func ticksAsm() uint64

// ticksHW reads the virtual count CNTVCT_EL0 after an ISB. Body:
// ticks_arm64.s; reference: ticksGeneric.
//
//go:noescape
func ticksHW() uint64

// counterFreq reads CNTFRQ_EL0, the generic timer's rate in Hz as the
// firmware set it. Body: ticks_arm64.s.
//
//go:noescape
func counterFreq() uint64

// ticksPHW is never used on arm64 (no clock has mode clockRDTSCP): there is no
// instruction that reads the counter and the CPU number together.
func ticksPHW() (ticks uint64, aux uint32) { return ticksHW(), getcpu() }

// detectInvariantTSC is false: arm64 has no TSC.
func detectInvariantTSC() bool { return false }

// detectClock picks the generic timer: constant-rate and synchronised across
// CPUs by the architecture (Armv8 ARM, D11.1), rate from CNTFRQ_EL0.
func detectClock() *clock {
	return &clock{mode: clockCounter,
		source: "cntvct_el0: ISB;MRS CNTVCT_EL0, rate from CNTFRQ_EL0; TicksP: + getcpu",
		freq:   func() float64 { return float64(counterFreq()) }}
}
