package main

import (
	"fmt"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/spinwire/spinwire/asm"
)

// maxLatency is the largest latency a histogram holds, in TSC ticks (about
// six minutes at 3 GHz); a longer one is recorded as this.
const maxLatency = 1 << 40

// newLatency returns an HdrHistogram of latencies in raw asm.Ticks
// differences, to three significant digits (every value is known within
// 0.1 %). Recording into it is a few instructions and allocates nothing, so
// it can sit on the hot path; ticks become time only when printed.
func newLatency() *hdrhistogram.Histogram { return hdrhistogram.New(1, maxLatency, 3) }

// recordLatency adds a latency of d ticks to h. The clamp keeps RecordValue
// off its error path, which would allocate the error.
func recordLatency(h *hdrhistogram.Histogram, d uint64) {
	_ = h.RecordValue(int64(min(d, maxLatency)))
}

// latencyString prints h's usual percentiles, converted to time.
func latencyString(h *hdrhistogram.Histogram) string {
	at := func(p float64) string { return ticksString(uint64(h.ValueAtPercentile(p))) }
	return fmt.Sprintf("p50 %s  p90 %s  p99 %s  p99.9 %s  p99.99 %s  max %s",
		at(50), at(90), at(99), at(99.9), at(99.99), ticksString(uint64(h.Max())))
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
