//go:build !noasm

package asm

// pauseAsm executes one ISB SY. Body: pause_arm64.s; reference: pauseGeneric.
//
// ISB rather than YIELD: on Arm cores without SMT (Neoverse N1/V1/N2, Apple,
// Graviton) YIELD retires as a NOP, so a YIELD loop spins at full speed and
// hammers the cache line it polls. ISB flushes the pipeline and takes tens of
// nanoseconds, which makes it behave like x86 PAUSE; the Go runtime (procyield
// since Go 1.26), Rust (core::hint::spin_loop) and Java's onSpinWait on
// Graviton made the same choice.
//
//go:noescape
func pauseAsm()

// spinAsm executes n > 0 ISB SY instructions. Body: pause_arm64.s;
// reference: spinGeneric.
//
//go:noescape
func spinAsm(n int)
