package asm

import "unsafe"

// line32 is 32 bytes as four words: a type the compiler loads and stores
// with plain moves in registers (an array of bytes would go through the
// stack or a memmove call).
type line32 struct{ a, b, c, d uint64 }

// CopyLine is Copy for payloads of one cache line or less, made to be
// called in a producer's loop: for len(src) of 32 to 64 bytes, with
// len(dst) ≥ len(src), it inlines into the caller as eight word loads and
// eight word stores (two 32-byte windows, the second ending at the last
// byte, overlapping the first below 64 bytes) and makes no call. Any other
// length, or a short dst, goes to the builtin copy (runtime.memmove). It
// returns min(len(dst), len(src)): the builtin copy's contract, overlapping
// slices included (both windows are loaded before either is stored).
//
// Use it where the payload's length is known only at run time but is
// 32–64 bytes — a Log's byte records of 40–72 bytes — and Copy everywhere
// else: CopyLine never takes Copy's vector or string-move paths.
//
// Why: in a loop that claims and fills records, Copy's memmove is a call,
// and around a call the loop's live values go to the stack and back; a copy
// whose size the compiler knows is a few moves in line. Cost, in the
// one-way stream of pingpong -mode throughput -protocol log -size 64
// -batch 64 (a 56-byte payload per record) and BenchmarkLogStream, is in
// docs/benchmarks.md; the same body as a call of its own (not inlined) was
// slower than memmove there.
//
// Ordering: none; publish the copied bytes with a release store.
func CopyLine(dst, src []byte) int {
	n := len(src)
	if !CopyLineSized(n) || len(dst) < n {
		return copy(dst, src)
	}
	s, d := unsafe.Pointer(unsafe.SliceData(src)), unsafe.Pointer(unsafe.SliceData(dst))
	x, y := *(*line32)(s), *(*line32)(unsafe.Add(s, n-32))
	*(*line32)(d), *(*line32)(unsafe.Add(d, n-32)) = x, y
	return n
}

// CopyLineSized reports whether CopyLine copies n bytes in line: 32 to 64
// on amd64 and arm64, never elsewhere. A caller that picks a loop by the
// copy it will make asks this rather than repeating the window.
func CopyLineSized(n int) bool { return unalignedWords && uint(n-32) <= 32 }
