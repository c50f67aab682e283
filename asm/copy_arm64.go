//go:build !noasm

package asm

// copyNEON is the builtin copy with AdvSIMD Q-register pairs.
// Body: copy_arm64.s; reference: copyGeneric.
//
//go:noescape
func copyNEON(dst, src []byte) int

// copyVector runs copyNEON.
func copyVector(dst, src []byte) int { return copyNEON(dst, src) }

// copyVec runs copyNEON (for tests and benchmarks).
func copyVec(_ copyKind, dst, src []byte) int { return copyNEON(dst, src) }

// copyKinds lists the vector routines this CPU can run: AdvSIMD is part of
// every arm64 CPU.
func copyKinds() []copyKind { return []copyKind{copyKindNEON} }

// detectCopy sends every size to the builtin copy: copyNEON passes the
// tests (run under qemu-user) but has never been timed on arm64 hardware,
// and this package dispatches only to a routine a benchmark showed to win.
// Run BenchmarkCopy on the target and widen the window to the sizes where
// impl=neon wins.
func detectCopy() copyImpl { return copyImpl{kind: copyKindNEON, lo: 1, hi: 0} }
