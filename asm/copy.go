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
// count: the builtin copy's contract, overlapping slices included. It is
// meant for message payloads of 8 B … 4 KiB.
//
// When len(src) is in the window where a benchmark showed the vector routine
// beating the builtin copy, and len(dst) ≥ len(src), Copy makes one call to
// copyAVX512 (AVX-512 F+VL: 129 B … 4 KiB) or copyAVX2 (AVX2 only:
// 257 B … 4 KiB); otherwise, and always on arm64, with noasm and on other
// architectures, it is the builtin copy, after a check of two compares that
// inlines into the caller.
//
// Ordering: none beyond the builtin copy's; publish the copied bytes with a
// release store (StoreRelease64).
//
// Cost on the Sapphire Rapids VM of the package documentation, ns per call
// (BenchmarkCopy/dst=shm/impl=…/size=…: the destination in a MAP_SHARED
// mapping, 64-byte aligned, hot in L1; dst=heap gives the same figures
// within noise):
//
//	size    builtin   avx512   avx2    Copy   Copy uses
//	   8     3.50      3.34    3.96    3.00   builtin
//	  64     3.97      3.13    3.44    3.69   builtin
//	 128     3.81      3.47    3.98    4.15   builtin
//	 192     4.87      3.75    4.53    3.98   avx512
//	 256     4.92      3.73    4.53    4.10   avx512
//	 512     8.30      5.15    7.00    5.16   avx512
//	1024    11.17      8.55   10.69    8.62   avx512
//	2048    25.34     13.59   16.79   13.92   avx512
//	4096    30.91     24.41   27.95   24.20   avx512
//
// Up to 128 B the order flips from one build of the benchmark to the next
// (code placement moves these 3–4 ns figures by ±0.5 ns; builds where
// impl=builtin led gave 2.35 vs 4.77 ns at 8 B, 3.25 vs 4.04 at 64 B and
// 3.68 vs 4.02 at 128 B), so those sizes count as a tie and stay with the
// builtin copy, which receives its arguments in registers where an assembly
// routine cannot. From 192 B on, impl=avx512 won in every run (four 64-byte
// moves where memmove makes sixteen 16-byte ones up to 256 B, and it uses
// REP MOVSQ from 2 KiB on Intel CPUs with ERMS and FSRM). For impl=avx2
// against impl=builtin, 10 runs gave ties at 192 and 256 B (4.81 vs 4.78,
// 4.84 vs 4.71), wins at 384 and 512 B (6.32 vs 7.00, 7.29 vs 7.76), near
// ties at 768 and 1024 B (8.77 vs 9.06, 10.59 vs 10.57) and wins at 2 and
// 4 KiB (17.06 vs 26.26, 28.17 vs 31.81). One window is what keeps Copy
// inlinable (a per-class mask costs 86 against the inliner's budget of 80),
// so its 513 B…1 KiB tie stays inside the window.
//
// These are instruction costs. In a real exchange, the destination lines
// are owned by the consumer's core, and moving them costs more than any of
// these figures: there, from 1000 bytes on, copyAVX512 copies forward
// with REP MOVSB where the CPU has ERMS (copyERMS; from 2 KiB on where it
// is not an AMD one), as glibc's memcpy does for large sizes. Streams between two CPUs of the EPYC VM (pingpong
// -mode throughput, the host's slow state, medians of five or six runs
// against the floor of the same run): 4096-byte cursors Ring, batch 64,
// 0.40 → 1.22 × the floor; in-slot batch 1 0.56 → 1.11 ×; 1 KiB Log batch
// 64 0.87 → 1.17 × — likely because string moves may write whole lines
// without first fetching them from the other core, where each vector
// store waits for its line. On a Xeon VM the vector loop did better at
// 1 KiB and REP MOVSB at 4 KiB (copyERMS).
func Copy(dst, src []byte) int {
	if uint(len(src))-copyLo > copySpan || len(dst) < len(src) {
		return copy(dst, src)
	}
	return copyVector(dst, src)
}

// copyGeneric is the reference for every vector routine: the builtin copy.
func copyGeneric(dst, src []byte) int { return copy(dst, src) }
