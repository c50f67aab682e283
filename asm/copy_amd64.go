//go:build !noasm

package asm

import "github.com/klauspost/cpuid/v2"

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

// copyKinds lists the vector routines this CPU can run, best first.
func copyKinds() []copyKind {
	var ks []copyKind
	if cpuid.CPU.Supports(cpuid.AVX512F, cpuid.AVX512VL) {
		ks = append(ks, copyKindAVX512)
	}
	if cpuid.CPU.Supports(cpuid.AVX2) {
		ks = append(ks, copyKindAVX2)
	}
	return ks
}

// detectCopy picks the best vector routine this CPU runs, for the sizes
// where it beat the builtin copy on the development host (see Copy).
func detectCopy() copyImpl {
	ks := copyKinds()
	if len(ks) == 0 {
		return copyImpl{kind: copyKindBuiltin, lo: 1, hi: 0}
	}
	return copyImpl{kind: ks[0], lo: copyVectorMin, hi: copyVectorMax}
}

// copyVectorMin..copyVectorMax are the sizes where copyAVX512 and copyAVX2
// beat the builtin copy (see Copy for the figures).
const (
	copyVectorMin = 129
	copyVectorMax = 4096
)
