package asm

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"
	"unsafe"
)

// copyRoutine is one implementation under test, called with two slices of
// equal length that do not overlap. When set is not nil, the test installs
// it as Copy's dispatch first (so such routines cannot run in parallel).
type copyRoutine struct {
	name string
	fn   func(dst, src []byte) int
	set  *copyImpl
}

// copyRoutines returns every implementation this build can run: Copy as
// detected, CopyLine, each vector routine called directly, and Copy with every size
// sent to each vector routine (which tests the dispatch path too).
func copyRoutines() []copyRoutine {
	rs := []copyRoutine{{name: "Copy", fn: Copy}, {name: "CopyLine", fn: CopyLine}}
	for _, k := range copyKinds() {
		rs = append(rs, copyRoutine{name: "impl=" + k.String(), fn: func(d, s []byte) int { return copyVec(k, d, s) }})
	}
	for _, k := range copyKinds() {
		rs = append(rs, copyRoutine{name: "Copy/impl=" + k.String(), fn: Copy, set: &copyImpl{kind: k, lo: 0, hi: 1 << 62}})
	}
	return rs
}

// alignedBuf returns n bytes starting at a 64-byte boundary.
func alignedBuf(n int) []byte {
	b := make([]byte, n+64)
	off := int(-uintptr(unsafe.Pointer(unsafe.SliceData(b))) & 63)
	return b[off : off+n : off+n]
}

// copyChecker holds a source with a pattern and a destination full of guard
// bytes, both 64-byte aligned, and checks one copy at a time.
type copyChecker struct {
	src, dst, guard []byte
}

const maxCopyTest = 4096

func newCopyChecker() *copyChecker {
	c := &copyChecker{src: alignedBuf(maxCopyTest + 128), dst: alignedBuf(maxCopyTest + 192), guard: alignedBuf(maxCopyTest + 192)}
	r := rand.New(rand.NewPCG(1, 2))
	for i := range c.src {
		c.src[i] = byte(r.Uint32()) | 1 // never the guard's 0 in odd... keep it simple: never 0
	}
	for i := range c.guard {
		c.guard[i] = byte(i*7) &^ 1 // even bytes: never equal to a source byte
	}
	copy(c.dst, c.guard)
	return c
}

// check copies n bytes from src+soff to dst+doff with fn and reports whether
// exactly dst[doff:doff+n] changed, to the source's bytes; it restores dst.
func (c *copyChecker) check(fn func(d, s []byte) int, n, doff, soff int) error {
	d, s := c.dst[doff:doff+n], c.src[soff:soff+n]
	got := fn(d, s)
	w := c.dst[:doff+n+64]
	var err error
	switch {
	case got != n:
		err = fmt.Errorf("n=%d doff=%d soff=%d: returned %d", n, doff, soff, got)
	case !bytes.Equal(d, s):
		err = fmt.Errorf("n=%d doff=%d soff=%d: copied bytes differ from the source", n, doff, soff)
	case !bytes.Equal(w[:doff], c.guard[:doff]):
		err = fmt.Errorf("n=%d doff=%d soff=%d: wrote before dst", n, doff, soff)
	case !bytes.Equal(w[doff+n:], c.guard[doff+n:len(w)]):
		err = fmt.Errorf("n=%d doff=%d soff=%d: wrote after dst[:n]", n, doff, soff)
	}
	if err != nil {
		copy(c.dst, c.guard)
		return err
	}
	copy(d, c.guard[doff:doff+n])
	return nil
}

// copyGrid says how much of the size × alignment grid a test run covers.
type copyGrid int

const (
	gridFull  copyGrid = iota // every size, every alignment pair
	gridShort                 // -short: every branch and loop boundary fully, the rest sampled
	gridRace                  // -race: the boundaries only; the race detector cannot see into assembly anyway
)

// copyTestSizes returns the sizes that get the full 64×64 alignment grid,
// the sizes that get pairs random alignment pairs each.
//
//   - gridFull: every size 0…4096 fully.
//   - gridShort: fully every size up to 512 (every straight-line branch of
//     every routine and its boundaries) and every size within 2 of a
//     multiple of 32 up to 4096 (the vector loops' boundaries); 64 pairs for
//     each other size.
//   - gridRace: fully the sizes next to each branch boundary; 4 pairs for
//     each other size.
func copyTestSizes(g copyGrid) (full, sampled []int, pairs int) {
	boundary := func(n int) bool {
		for _, b := range []int{0, 4, 8, 16, 32, 64, 128, 256, 512, 4096} {
			if n >= b-1 && n <= b+1 {
				return true
			}
		}
		return false
	}
	for n := 0; n <= maxCopyTest; n++ {
		switch {
		case g == gridFull,
			g == gridShort && (n <= 512 || (n+2)%32 <= 4),
			g == gridRace && boundary(n):
			full = append(full, n)
		default:
			sampled = append(sampled, n)
		}
	}
	pairs = 64
	if g == gridRace {
		pairs = 4
	}
	return full, sampled, pairs
}

// TestCopyMatchesGeneric checks each implementation against the builtin copy
// for every size 0…4096 and every alignment 0…63 of both slices: 16.8 M
// calls per implementation, a few seconds, without -short. With -short (and
// always for the Copy/impl=… routines, whose dispatch path is the same at
// every size in the window) it runs gridShort, ≈ 3.7 M calls, under a
// second; with -race gridRace. See copyTestSizes.
func TestCopyMatchesGeneric(t *testing.T) {
	run := func(t *testing.T, r copyRoutine, grid copyGrid) {
		if r.set != nil {
			defer setCopy(*r.set)()
		}
		full, sampled, pairs := copyTestSizes(grid)
		c := newCopyChecker()
		fails := 0
		report := func(err error) {
			if err != nil && fails < 10 {
				fails++
				t.Error(err)
			}
		}
		for _, n := range full {
			for doff := range 64 {
				for soff := range 64 {
					report(c.check(r.fn, n, doff, soff))
				}
			}
		}
		rng := rand.New(rand.NewPCG(3, 4))
		for _, n := range sampled {
			for range pairs {
				report(c.check(r.fn, n, rng.IntN(64), rng.IntN(64)))
			}
		}
	}
	grid, swapGrid := gridFull, gridShort
	if testing.Short() {
		grid = gridShort
	}
	if raceEnabled {
		grid, swapGrid = gridRace, gridRace
	}
	t.Run("group=direct", func(t *testing.T) { // read Copy's dispatch only: parallel
		for _, r := range copyRoutines() {
			if r.set == nil {
				t.Run(r.name, func(t *testing.T) {
					t.Parallel()
					run(t, r, grid)
				})
			}
		}
	})
	for _, r := range copyRoutines() { // swap Copy's dispatch: one at a time
		if r.set != nil {
			t.Run(r.name, func(t *testing.T) { run(t, r, swapGrid) })
		}
	}
}

// TestCopyOverlap checks Copy, like the builtin copy, on overlapping slices
// in both directions, with the vector path forced for every size.
func TestCopyOverlap(t *testing.T) {
	kinds := append([]copyKind{copyKindBuiltin}, copyKinds()...)
	buf := alignedBuf(2*maxCopyTest + 256)
	want := make([]byte, len(buf))
	for _, k := range kinds {
		t.Run("impl="+k.String(), func(t *testing.T) {
			defer setCopy(copyImpl{kind: k, lo: 0, hi: 1 << 62})()
			for _, n := range []int{1, 3, 7, 16, 31, 33, 64, 100, 128, 129, 200, 256, 257, 300, 511, 512, 513, 1000, 1024, 2049, 4096} {
				for _, shift := range []int{-300, -65, -64, -33, -17, -8, -1, 0, 1, 8, 17, 33, 64, 65, 300} {
					base := 300
					for i := range buf {
						buf[i] = byte(i * 13)
					}
					copyGeneric(want, buf)
					copyGeneric(want[base+shift:base+shift+n], want[base:base+n])
					if got := Copy(buf[base+shift:base+shift+n], buf[base:base+n]); got != n {
						t.Fatalf("n=%d shift=%d: Copy returned %d", n, shift, got)
					}
					if !bytes.Equal(buf, want) {
						t.Fatalf("n=%d shift=%d: result differs from the builtin copy", n, shift)
					}
				}
			}
		})
	}
}

// TestCopyVectorOverlap checks the vector routines themselves on
// overlapping slices in both directions, at sizes that reach their loops.
func TestCopyVectorOverlap(t *testing.T) {
	buf := alignedBuf(maxCopyTest + 1024)
	want := make([]byte, len(buf))
	for _, k := range copyKinds() {
		for _, n := range []int{129, 200, 257, 300, 511, 513, 1000, 4096} {
			for _, shift := range []int{-300, -256, -255, -65, -64, -31, -1, 0, 1, 31, 64, 65, 255, 256, 300} {
				for i := range buf {
					buf[i] = byte(i * 13)
				}
				copyGeneric(want, buf)
				from := 400
				to := from + shift
				copyGeneric(want[to:to+n], want[from:from+n])
				if got := copyVec(k, buf[to:to+n], buf[from:from+n]); got != n {
					t.Fatalf("%v n=%d shift=%d: returned %d", k, n, shift, got)
				}
				if !bytes.Equal(buf, want) {
					t.Fatalf("%v n=%d shift=%d: result differs from the builtin copy", k, n, shift)
				}
			}
		}
	}
}

// TestCopyLineOverlap checks CopyLine, like the builtin copy, on
// overlapping slices in both directions around its 32…64-byte path, its
// result for a short destination, and CopyLineSized's window.
func TestCopyLineOverlap(t *testing.T) {
	buf := alignedBuf(512)
	want := make([]byte, len(buf))
	for n := 0; n <= 70; n++ {
		for shift := -70; shift <= 70; shift++ {
			for i := range buf {
				buf[i] = byte(i * 13)
			}
			copyGeneric(want, buf)
			from := 200
			copyGeneric(want[from+shift:from+shift+n], want[from:from+n])
			if got := CopyLine(buf[from+shift:from+shift+n], buf[from:from+n]); got != n {
				t.Fatalf("n=%d shift=%d: returned %d", n, shift, got)
			}
			if !bytes.Equal(buf, want) {
				t.Fatalf("n=%d shift=%d: result differs from the builtin copy", n, shift)
			}
		}
	}
	for n := -1; n <= 70; n++ {
		if got, want := CopyLineSized(n), unalignedWords && n >= 32 && n <= 64; got != want {
			t.Errorf("CopyLineSized(%d) = %v", n, got)
		}
	}
	src := bytes.Repeat([]byte{7}, 64)
	for _, dl := range []int{0, 31, 32, 40, 63} {
		dst := make([]byte, dl)
		if got := CopyLine(dst, src); got != dl || !bytes.Equal(dst, src[:dl]) {
			t.Errorf("CopyLine(%d-byte dst, 64-byte src) = %d", dl, got)
		}
	}
}

func TestCopyReturnsMinLength(t *testing.T) {
	a, b := make([]byte, 10), make([]byte, 300)
	for i := range b {
		b[i] = byte(i)
	}
	if n := Copy(a, b); n != 10 || !bytes.Equal(a, b[:10]) {
		t.Errorf("Copy(10-byte dst, 300-byte src) = %d, dst %v", n, a)
	}
	if n := Copy(b, a[:3]); n != 3 {
		t.Errorf("Copy(300-byte dst, 3-byte src) = %d", n)
	}
	if n := Copy(nil, b); n != 0 {
		t.Errorf("Copy(nil, src) = %d", n)
	}
	if n := Copy(b, nil); n != 0 {
		t.Errorf("Copy(dst, nil) = %d", n)
	}
}

func TestCopyDispatch(t *testing.T) {
	defer setCopy(copyImpl{kind: copyKindAVX2, lo: 129, hi: 4096})()
	for _, tc := range []struct {
		n  int
		in bool
	}{{0, false}, {1, false}, {128, false}, {129, true}, {4096, true}, {4097, false}} {
		if got := uint(tc.n)-copyLo <= copySpan; got != tc.in {
			t.Errorf("size %d in window 129..4096 = %v", tc.n, got)
		}
	}
	restore := setCopy(copyImpl{kind: copyKindAVX2, lo: 1, hi: 0})
	for _, n := range []uint{0, 1, 4096, ^uint(0) - 1} {
		if n-copyLo <= copySpan {
			t.Errorf("empty window admits size %d", n)
		}
	}
	restore()
	if copyLo != 129 || copyLo+copySpan != 4096 {
		t.Errorf("restore: window %d..%d, want 129..4096", copyLo, copyLo+copySpan)
	}
	for _, k := range []copyKind{copyKindBuiltin, copyKindAVX2, copyKindAVX512, copyKindNEON} {
		if k.String() == "" {
			t.Errorf("copyKind(%d) has no name", k)
		}
	}
}

// FuzzCopy compares every implementation with the builtin copy byte for
// byte, on a destination with guard bytes on both sides, and Copy on
// overlapping slices.
func FuzzCopy(f *testing.F) {
	f.Add([]byte("hello, shared memory"), uint16(5), uint8(0), uint8(0), int16(0))
	f.Add(bytes.Repeat([]byte{1, 2, 3}, 700), uint16(2048), uint8(3), uint8(61), int16(-7))
	f.Add(bytes.Repeat([]byte{9}, 5000), uint16(4096), uint8(63), uint8(1), int16(100))
	routines := copyRoutines()
	f.Fuzz(func(t *testing.T, data []byte, dlen uint16, doff, soff uint8, shift int16) {
		src := alignedBuf(len(data) + 64)
		s := src[soff%64 : int(soff%64)+len(data)]
		copy(s, data)
		n := min(int(dlen), len(data))
		want := make([]byte, int(dlen)+128)
		for i := range want {
			want[i] = 0xA5
		}
		copyGeneric(want[64:64+n], s)
		for _, r := range routines {
			got := alignedBuf(int(dlen) + 192)
			for i := range got {
				got[i] = 0xA5
			}
			g := got[doff%64:]
			if r.set != nil {
				restore := setCopy(*r.set)
				r.fn(g[64:64+n], s[:n])
				restore()
			} else {
				r.fn(g[64:64+n], s[:n])
			}
			if !bytes.Equal(g[:int(dlen)+128], want) {
				t.Fatalf("%s: n=%d doff=%d soff=%d: result differs from the builtin copy (or guard bytes were written)", r.name, n, doff%64, soff%64)
			}
		}
		// Overlap: Copy within one buffer, against the builtin copy.
		if len(data) == 0 {
			return
		}
		buf, ref := bytes.Clone(data), bytes.Clone(data)
		from := int(soff) % len(data)
		to := min(max(from+int(shift), 0), len(data))
		if Copy(buf[to:], buf[from:]) != copyGeneric(ref[to:], ref[from:]) || !bytes.Equal(buf, ref) {
			t.Fatalf("overlap from=%d to=%d: Copy differs from the builtin copy", from, to)
		}
	})
}
