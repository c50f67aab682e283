//go:build !noasm

package asm

// copyNEON copies n bytes from src to dst with AdvSIMD Q-register pairs.
// Above 128 bytes dst must not lie in (src, src+n).
// Body: copy_arm64.s; reference: copyGeneric.
//
//go:noescape
func copyNEON(dst, src *byte, n int)

// copyVec runs copyNEON (the only vector routine on arm64).
func copyVec(_ copyKind, dst, src *byte, n int) { copyNEON(dst, src, n) }

// copyKinds lists the vector routines this CPU can run: AdvSIMD is part of
// every arm64 CPU.
func copyKinds() []copyKind { return []copyKind{copyKindNEON} }

// detectCopy sends every size to the builtin copy: copyNEON is tested (under
// qemu-user) but has never been timed on arm64 hardware, and this package
// only dispatches to a routine that a benchmark showed to win. Measure with
// BenchmarkCopy on the target and set the mask to the winning classes.
func detectCopy() copyImpl { return copyImpl{kind: copyKindNEON, mask: 0} }
