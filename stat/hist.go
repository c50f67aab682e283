package stat

import (
	"math/bits"
	"sync/atomic"
)

// Histogram is an endpoint's latency histogram in shared memory:
// Buckets log-linear buckets of nanoseconds — exact below 8 ns, then four
// buckets per power of two (within 12.5 %), up to 2^33 ns (8.6 s); longer
// values go in the last bucket. Record costs a bucket index (a LZCNT and
// shifts) and one increment, no allocation (BenchmarkHistogramRecord).
// Any goroutine records into a Histogram; any process may read it.
type Histogram struct {
	b []uint64 // Buckets words in the segment
}

// bucket returns the bucket of ns.
func bucket(ns uint64) int {
	if ns < 8 {
		return int(ns)
	}
	e := bits.Len64(ns) - 1 // ≥ 3
	i := 8 + (e-3)*4 + int(ns>>(e-2)&3)
	return min(i, Buckets-1)
}

// bucketLow returns the smallest value of bucket i.
func bucketLow(i int) uint64 {
	if i < 8 {
		return uint64(i)
	}
	e := (i-8)/4 + 3
	return 1<<e | uint64((i-8)%4)<<(e-2)
}

// Record counts one sample of ns nanoseconds (negative counts as 0), from
// any goroutine: the increment is a locked add, which costs what a load
// and a store by a single writer cost (6.2 ns both, EPYC,
// BenchmarkHistogramRecord), so a link server's pollers can share one.
func (h *Histogram) Record(ns int64) {
	if h == nil || h.b == nil {
		return
	}
	// SYNC: a locked add: several writers; readers load each bucket.
	atomic.AddUint64(&h.b[bucket(uint64(max(ns, 0)))], 1)
}

// Percentiles are read from a snapshot of the buckets. The q-th
// percentile is the r-th smallest sample, r = q/100 × Count rounded to
// the nearest (halves up; at least 1), as HdrHistogram takes it for
// pingpong's tables: with 90 samples of 100 ns and 10 of 1000, P90 is
// 100.
type Percentiles struct {
	Count              uint64
	P50, P90, P99, Max uint64 // ns: the low edge of the bucket holding each
}

// percentiles computes Percentiles from counts (Buckets of them). Counts
// come from shared memory: the sum saturates instead of wrapping.
func percentiles(counts []uint64) Percentiles {
	var p Percentiles
	for _, c := range counts {
		if p.Count+c < p.Count {
			p.Count = ^uint64(0)
			break
		}
		p.Count += c
	}
	if p.Count == 0 {
		return p
	}
	at := func(q uint64) uint64 {
		rank := percentileRank(p.Count, q)
		var seen uint64
		for i, c := range counts {
			if seen += c; seen >= rank || seen < c {
				return bucketLow(i)
			}
		}
		return bucketLow(len(counts) - 1)
	}
	p.P50, p.P90, p.P99 = at(50), at(90), at(99)
	for i := len(counts) - 1; i >= 0; i-- {
		if counts[i] != 0 {
			p.Max = bucketLow(i)
			break
		}
	}
	return p
}

// percentileRank is q/100 × n rounded to the nearest, halves up, for
// 0 < q < 100: at least 1, at most n, computed without overflow for any n.
func percentileRank(n, q uint64) uint64 {
	return min(n, max(1, n/100*q+(2*(n%100)*q+100)/200))
}
