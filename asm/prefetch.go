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

// Prefetch asks the CPU to bring the cache lines of [p, p+n) into its
// cache for reading (PREFETCHT0), without waiting for them. A consumer
// that has learnt from a producer's tail that a stretch is published
// issues it a little ahead of where it reads: the lines then cross from
// the producer's cache several at a time instead of one per message, each
// load waiting for its own (spin.Ring.Poll under Cursors, spin.Log.Poll;
// on a Xeon host pingpong's 64-byte cursors stream at batch 64 went from
// 30–38 to 68–82 M msg/s: docs/benchmarks.md, "Stream sessions",
// twelfth). A hint, as PrefetchW: it never faults, but p must lie in
// memory that stays mapped; n ≤ 0 does nothing. Cost: one call and a
// PREFETCHT0 per 64 bytes; nothing where this package has no assembly
// (noasm, other architectures).
func Prefetch(p unsafe.Pointer, n int) {
	if n > 0 && hasPrefetch {
		prefetch(p, n)
	}
}

// Demote asks the CPU to move the cache lines of [p, p+n) out of its own
// caches into the shared last-level cache (CLDEMOTE), keeping them valid
// there. A producer that has just published lines another CPU will read
// next issues it after the publishing store: the reader's loads then find
// the lines in the L3 instead of taking them from this core's L1 or L2
// (spin.Ring.SetDemote has the figures). A hint, as PrefetchW: it never
// faults, but p must lie in memory that stays mapped; n ≤ 0 does nothing.
// Cost: one call and a CLDEMOTE per 64 bytes; nothing on CPUs that do not
// report the instruction (CPUID leaf 7, ECX bit 25: the Emerald Rapids
// host of docs/benchmarks.md does) and where this package has no
// assembly.
func Demote(p unsafe.Pointer, n int) {
	if n > 0 && hasDemote {
		demote(p, n)
	}
}

// HasDemote reports whether Demote does anything on this CPU and build.
func HasDemote() bool { return hasDemote }
