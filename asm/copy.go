package asm

import (
	"math/bits"
	"unsafe"
)

// copyKind names one implementation of Copy's vector path.
type copyKind uint8

const (
	copyKindBuiltin copyKind = iota // the builtin copy (runtime.memmove)
	copyKindAVX2                    // copyAVX2, amd64
	copyKindAVX512                  // copyAVX512, amd64
	copyKindNEON                    // copyNEON, arm64
)

var copyKindNames = [...]string{"builtin", "avx2", "avx512", "neon"}

func (k copyKind) String() string { return copyKindNames[k] }

// copyImpl is Copy's dispatch: which vector routine, and for which sizes.
type copyImpl struct {
	kind copyKind
	// mask has bit k set when sizes in (2^(k-1), 2^k] go to the vector
	// routine (bit 0: size 1); every other size goes to the builtin copy.
	mask uint32
}

// copyCfg is chosen once at init by detectCopy; tests swap it with setCopy.
var copyCfg = detectCopy()

// setCopy makes c Copy's dispatch until the returned function restores the
// previous one. For tests; not safe while other goroutines call Copy.
func setCopy(c copyImpl) (restore func()) {
	old := copyCfg
	copyCfg = c
	return func() { copyCfg = old }
}

// sizeClass returns k such that n is in (2^(k-1), 2^k]; 64 for n = 0.
func sizeClass(n int) uint {
	return uint(bits.Len(uint(n - 1)))
}

// classMask returns the mask bits for the size classes that hold the sizes
// lo..hi.
func classMask(lo, hi int) uint32 {
	var m uint32
	for k := sizeClass(lo); k <= sizeClass(hi); k++ {
		m |= 1 << k
	}
	return m
}

// Copy copies min(len(dst), len(src)) bytes from src to dst and returns that
// count, like the builtin copy, overlap included.
//
// FIGURES
func Copy(dst, src []byte) int {
	n := min(len(dst), len(src))
	if copyCfg.mask>>sizeClass(n)&1 != 0 {
		d, s := unsafe.SliceData(dst), unsafe.SliceData(src)
		// The vector loops copy forward: not when dst starts inside src.
		if uintptr(unsafe.Pointer(d))-uintptr(unsafe.Pointer(s)) >= uintptr(n) {
			copyVec(copyCfg.kind, d, s, n)
			return n
		}
	}
	return copy(dst, src)
}

// copyGeneric is the reference for every vector routine: the builtin copy.
func copyGeneric(dst, src []byte) int { return copy(dst, src) }
