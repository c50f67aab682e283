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
// bytes with REP MOVSB where the CPU reports fast REP MOVSB (ERMS), else
// never: 1000 bytes on AMD CPUs, 2048 on others. Measured with pingpong
// -mode throughput, streams of 1016-, 1024-, 2048-, 4088- and 4096-byte
// copies between two CPUs (see Copy): on the EPYC VM of
// docs/benchmarks.md REP MOVSB won by up to 3 × from 1 KiB on. On a Xeon
// VM (family 6 model 207, three or four alternating pairs per row) the
// vector loop won the 1 KiB Log stream at batch 64 (8.2–10.7 → 9.3–11.5
// M msg/s, four pairs) and tied the 1 KiB Ring rows, while REP MOVSB won at 4 KiB
// (in-slot batch 1 3.85–4.00 → 4.21–4.44 M msg/s, the cursors and Log
// rows at batch 64 by 2–5 %); 2 KiB, between, was not measured there.
// Below 1000 bytes not measured, so the vector loop stays. Read by
// copy_amd64.s; swapped by tests.
var copyERMS = ermsFrom(cpu.X86.HasERMS, isAMD())

func ermsFrom(erms, amd bool) uint {
	switch {
	case !erms:
		return ^uint(0)
	case amd:
		return 1000
	}
	return 2048
}

// isAMD reports whether CPUID's vendor string is "AuthenticAMD".
func isAMD() bool {
	_, b, c, d := CPUID(0, 0)
	return b == 0x68747541 && d == 0x69746e65 && c == 0x444d4163 // "Auth" "enti" "cAMD"
}

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
