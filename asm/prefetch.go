package asm

import "unsafe"

// PrefetchW asks the CPU to bring the cache lines of [p, p+n) into its
// cache ready to be written (PREFETCHW: read for ownership), without
// waiting for them and without a store. A producer that will write a
// stretch of shared memory its consumer read on an earlier lap issues it
// a batch ahead: the lines' ownership then moves while it writes the
// batch before, instead of each store waiting in the store buffer for its
// line (spin.Log.Commit; pingpong -mode throughput -protocol log in
// docs/benchmarks.md). It is a hint: it never
// faults, but p must lie in memory that stays mapped; n ≤ 0 does nothing.
// Cost: one call and a PREFETCHW per 64 bytes; nothing on CPUs without
// the instruction and where this package has no assembly (noasm, other
// architectures).
func PrefetchW(p unsafe.Pointer, n int) {
	if n > 0 && hasPrefetchW {
		prefetchW(p, n)
	}
}
