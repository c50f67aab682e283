//go:build !noasm

package asm

import "golang.org/x/sys/cpu"

// copyVector tail-jumps to copyAVX512 when copySel is copyKindAVX512, else
// to copyAVX2, so Copy pays for one call. Body: copy_amd64.s; reference:
// copyGeneric.
//
//go:noescape
func copyVector(dst, src []byte) int

// copyAVX512 is the builtin copy with 64-byte EVEX moves (needs AVX-512 F
// and VL). Body: copy_amd64.s; reference: copyGeneric.
//
//go:noescape
func copyAVX512(dst, src []byte) int

// copyAVX2 is the builtin copy with 32-byte VEX moves (needs AVX2).
// Body: copy_amd64.s; reference: copyGeneric.
//
//go:noescape
func copyAVX2(dst, src []byte) int

// copyVec runs the vector routine kind names (for tests and benchmarks).
func copyVec(kind copyKind, dst, src []byte) int {
	if kind == copyKindAVX512 {
		return copyAVX512(dst, src)
	}
	return copyAVX2(dst, src)
}

// copyERMS is the size from which copyAVX512, copying forward, moves the
// bytes with REP MOVSB: 1000 bytes where the CPU reports fast REP MOVSB
// (ERMS), else never. Measured on the EPYC VM of docs/benchmarks.md with
// pingpong -mode throughput, streams of 1016-, 1024-, 2048-, 4088- and
// 4096-byte copies (see Copy); below 1000 bytes not measured, so the
// vector loop stays. Read by copy_amd64.s; swapped by tests.
var copyERMS = func() uint {
	if cpu.X86.HasERMS {
		return 1000
	}
	return ^uint(0)
}()

// copyKinds lists the vector routines this CPU can run, best first. The
// flags of golang.org/x/sys/cpu include the OS's consent (XGETBV: the kernel
// saves the YMM, or opmask and ZMM, state).
func copyKinds() []copyKind {
	var ks []copyKind
	if cpu.X86.HasAVX512F && cpu.X86.HasAVX512VL {
		ks = append(ks, copyKindAVX512)
	}
	if cpu.X86.HasAVX2 {
		ks = append(ks, copyKindAVX2)
	}
	return ks
}

// detectCopy picks the best vector routine this CPU runs, for the sizes
// where BenchmarkCopy showed it beating the builtin copy (see Copy).
func detectCopy() copyImpl {
	ks := copyKinds()
	if len(ks) == 0 {
		return copyImpl{kind: copyKindBuiltin, lo: 1, hi: 0}
	}
	return copyWindowFor(ks[0])
}

// copyWindowFor returns the sizes where kind beat the builtin copy in
// BenchmarkCopy (the figures are in Copy's doc comment).
func copyWindowFor(kind copyKind) copyImpl {
	switch kind {
	case copyKindAVX512:
		return copyImpl{kind: kind, lo: 129, hi: 4096}
	case copyKindAVX2:
		// 129…256 tied; 513…1024 tied too (−3 %, 0 %) but stays inside
		// the window, because one window is what keeps Copy inlinable.
		return copyImpl{kind: kind, lo: 257, hi: 4096}
	}
	return copyImpl{kind: copyKindBuiltin, lo: 1, hi: 0}
}
