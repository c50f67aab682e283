package main

import (
	"fmt"
	"math"
	"math/bits"

	"github.com/spinwire/spinwire/asm"
)

// hist is a log-linear latency histogram of raw asm.Ticks differences: 32
// buckets per power of two, so a value is known to within 1/32 (3 %).
// Record is a handful of instructions and never allocates, so it can sit on
// the hot path; the conversion to nanoseconds (asm.TicksToNanos) happens
// only when the quantiles are printed.
//
// (The same file is in examples/feed: each example is self-contained so
// that it can be copied on its own.)
type hist struct {
	counts [64 << histSubBits]uint64
	n, max uint64
}

const histSubBits = 5

// histBucket returns v's bucket: values below 32 have their own, above that
// each power of two is split in 32.
func histBucket(v uint64) int {
	if v < 1<<histSubBits {
		return int(v)
	}
	e := bits.Len64(v) - histSubBits // ≥ 1
	return e<<histSubBits | int(v>>(e-1))&(1<<histSubBits-1)
}

// histUpper returns the largest value that falls in bucket i.
func histUpper(i int) uint64 {
	e, m := i>>histSubBits, uint64(i&(1<<histSubBits-1))
	if e == 0 {
		return m
	}
	return (1<<histSubBits|m+1)<<(e-1) - 1
}

// Record adds one value.
func (h *hist) Record(v uint64) {
	h.counts[histBucket(v)]++
	h.n++
	h.max = max(h.max, v)
}

// Quantile returns the value at quantile q (0…1): the upper bound of the
// bucket holding the ⌈q·n⌉-th smallest value (never below the truth), at
// most Max.
func (h *hist) Quantile(q float64) uint64 {
	if h.n == 0 {
		return 0
	}
	rank := max(uint64(math.Ceil(q*float64(h.n))), 1)
	var seen uint64
	for i, c := range h.counts {
		if seen += c; seen >= rank {
			return min(histUpper(i), h.max)
		}
	}
	return h.max
}

// Merge adds o's values to h.
func (h *hist) Merge(o *hist) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
	h.max = max(h.max, o.max)
}

// Reset empties h.
func (h *hist) Reset() { *h = hist{} }

// String prints the usual percentiles, converted to time.
func (h *hist) String() string {
	return fmt.Sprintf("p50 %s  p90 %s  p99 %s  p99.9 %s  p99.99 %s  max %s",
		ticksString(h.Quantile(0.50)), ticksString(h.Quantile(0.90)), ticksString(h.Quantile(0.99)),
		ticksString(h.Quantile(0.999)), ticksString(h.Quantile(0.9999)), ticksString(h.max))
}

// ticksString formats a TSC interval with three significant digits.
func ticksString(t uint64) string {
	ns := asm.TicksToNanos(t)
	switch {
	case ns < 1e3:
		return fmt.Sprintf("%.0fns", ns)
	case ns < 1e4:
		return fmt.Sprintf("%.2fµs", ns/1e3)
	case ns < 1e6:
		return fmt.Sprintf("%.0fµs", ns/1e3)
	case ns < 1e9:
		return fmt.Sprintf("%.1fms", ns/1e6)
	}
	return fmt.Sprintf("%.2fs", ns/1e9)
}
