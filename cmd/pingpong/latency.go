package main

import (
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// maxLatency is the largest latency a histogram holds, in nanoseconds; a
// longer one is recorded as this.
const maxLatency = int64(10 * time.Second)

// newHistogram makes a histogram of nanoseconds: 1 ns … 10 s, 3
// significant digits (every value known within 0.1 %).
func newHistogram() *hdrhistogram.Histogram { return hdrhistogram.New(1, maxLatency, 3) }

// record adds one latency in nanoseconds to h. The clamp keeps RecordValue
// off its error path, which would allocate the error: recording on the
// measured path allocates nothing.
func record(h *hdrhistogram.Histogram, ns int64) {
	_ = h.RecordValue(min(max(ns, 0), maxLatency))
}

// countAbove returns how many of h's values are above ns, to the
// histogram's precision: a value in the bucket that holds ns counts as not
// above.
func countAbove(h *hdrhistogram.Histogram, ns int64) int64 {
	var n int64
	for _, b := range h.Distribution() {
		if b.From > ns {
			n += b.Count
		}
	}
	return n
}
