package asm

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

// copyImpl is a choice for Copy: which vector routine, for which sizes.
type copyImpl struct {
	kind   copyKind // the routine copyVector runs
	lo, hi int      // len(src) in lo..hi goes to it; hi < lo: none does
}

// Copy's dispatch, set once at init from detectCopy and swapped by tests
// with setCopy. Three plain variables rather than a struct keep Copy within
// the inliner's budget.
var (
	copySel  copyKind // the routine copyVector runs; read by copy_amd64.s
	copyLo   uint     // len(src) in copyLo..copyLo+copySpan goes to copyVector
	copySpan uint
)

func init() { setCopy(detectCopy()) }

// setCopy makes c Copy's dispatch until the returned function restores the
// previous one. For init and tests; not safe while other goroutines call
// Copy.
func setCopy(c copyImpl) (restore func()) {
	old := copyImpl{kind: copySel, lo: int(copyLo), hi: int(copyLo + copySpan)}
	if copyLo == ^uint(0) {
		old.lo, old.hi = 1, 0
	}
	copySel = c.kind
	if c.hi < c.lo {
		copyLo, copySpan = ^uint(0), 0 // uint(n) - copyLo = n+1 > 0 for every length n
	} else {
		copyLo, copySpan = uint(c.lo), uint(c.hi-c.lo)
	}
	return func() { setCopy(old) }
}

// Copy copies min(len(dst), len(src)) bytes from src to dst and returns that
// count: the builtin copy's contract, overlapping slices included.
//
// FIGURES
func Copy(dst, src []byte) int {
	if uint(len(src))-copyLo > copySpan || len(dst) < len(src) {
		return copy(dst, src)
	}
	return copyVector(dst, src)
}

// copyGeneric is the reference for every vector routine: the builtin copy.
func copyGeneric(dst, src []byte) int { return copy(dst, src) }
