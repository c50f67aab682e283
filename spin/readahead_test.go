package spin

import (
	"math"
	"testing"
	"unsafe"
)

// TestAheadSpan: the consumer prefetches only published units past where
// it reads, at most ahead+block past it, never past the buffer's end.
func TestAheadSpan(t *testing.T) {
	const mask = 1<<12 - 1 // a 4096-unit buffer
	for _, tc := range []struct {
		name                     string
		pf, h, t                 uint64
		wantFrom, wantIdx, wantN uint64
	}{
		{"from the read position", 0, 0, 4000, 0, 0, 24},
		{"from where the last one ended", 24, 10, 4000, 24, 24, 10},
		{"behind the read position", 5, 100, 4000, 100, 100, 24},
		{"cut at the tail", 8, 8, 20, 8, 8, 12},
		{"nothing published past it", 20, 8, 20, 20, 0, 0},
		{"caught up", 30, 30, 30, 30, 0, 0},
		{"cut at the buffer's end", 3*4096 - 4, 3*4096 - 10, 3*4096 + 100, 3*4096 - 4, 4092, 4},
		{"after the wrap", 3 * 4096, 3*4096 - 10, 3*4096 + 100, 3 * 4096, 0, 14},
	} {
		from, idx, n := aheadSpan(mask, tc.pf, tc.h, tc.t, 16, 8)
		if from != tc.wantFrom || idx != tc.wantIdx || n != tc.wantN {
			t.Errorf("%s: from %d, index %d, %d units; want %d, %d, %d", tc.name, from, idx, n, tc.wantFrom, tc.wantIdx, tc.wantN)
		}
	}
}

// TestAheadUnits: the distances in slots of each size, at least one.
func TestAheadUnits(t *testing.T) {
	for _, tc := range []struct {
		size uintptr
		want readAheadParams
	}{
		{1, readAheadParams{aheadBytes, aheadBlock, aheadLeast}},
		{64, readAheadParams{16, 8, 32}},
		{192, readAheadParams{5, 2, 10}},
		{512, readAheadParams{2, 1, 4}},
		{576, readAheadParams{1, 1, math.MaxUint64}},
		{4096, readAheadParams{1, 1, math.MaxUint64}},
	} {
		if got := aheadUnits(tc.size); got != tc.want {
			t.Errorf("aheadUnits(%d) = %+v, want %+v", tc.size, got, tc.want)
		}
	}
}

// TestLogReadsAheadOfSmallRecords: a Log consumer 2 KiB or more behind
// prefetches the published bytes ahead of records of up to aheadBlock
// bytes, within the buffer and the published bytes, and not ahead of
// larger ones.
func TestLogReadsAheadOfSmallRecords(t *testing.T) {
	defer func(f func(unsafe.Pointer, int)) { prefetchLines = f }(prefetchLines)
	for _, tc := range []struct {
		payload   int
		wantAhead bool
	}{
		{56, true},
		{aheadBlock, true},
		{aheadBlock + 8, false},
		{1016, false},
	} {
		l := newLog(t, 16384)
		base := uintptr(unsafe.Pointer(unsafe.SliceData(l.data)))
		var stretches int
		prefetchLines = func(p unsafe.Pointer, n int) {
			off := uintptr(p) - base
			if off >= uintptr(len(l.data)) || n <= 0 || off+uintptr(n) > uintptr(l.Len()) {
				t.Errorf("payload %d: prefetched [%d, +%d) of %d published bytes", tc.payload, off, n, l.Len())
			}
			stretches++
		}
		for l.TryWrite(1, make([]byte, tc.payload)) && l.Len() < 8192 {
		}
		if got := l.Poll(0, func(uint32, []byte) {}); got == 0 {
			t.Fatalf("payload %d: nothing polled", tc.payload)
		}
		if (stretches > 0) != tc.wantAhead {
			t.Errorf("payload %d: %d prefetch calls, want any: %v", tc.payload, stretches, tc.wantAhead)
		}
	}
}
