//go:build noasm || (!amd64 && !arm64)

package asm

// ticksAsm is ticksGeneric where this package has no assembly.
func ticksAsm() uint64 { return ticksGeneric() }

// ticksHW is ticksGeneric where this package has no assembly.
func ticksHW() uint64 { return ticksGeneric() }

// ticksPHW is never used here (no clock has mode clockRDTSCP).
func ticksPHW() (ticks uint64, aux uint32) { return ticksGeneric(), getcpu() }

// detectInvariantTSC is false: without assembly the bit cannot be read.
func detectInvariantTSC() bool { return false }

// detectClock picks the monotonic clock.
func detectClock() *clock { return monotonicClock("noasm build or no counter for this GOARCH") }
