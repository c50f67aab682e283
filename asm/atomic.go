package asm

import "sync/atomic"

// StoreRelease64 stores v into *p with release ordering: every load and
// store the calling goroutine made before it is visible to a goroutine,
// thread or process that loads v from *p with acquire ordering
// (sync/atomic.LoadUint64, or any plain load on amd64) and then reads on.
//
// On amd64 it is one MOVQ in assembly, which x86-TSO makes a release, where
// sync/atomic.StoreUint64 is an XCHGQ (a full barrier). On arm64 and with
// noasm it is sync/atomic.StoreUint64 (on arm64 that is already a single
// STLR, inlined; an assembly STLR could only add a call). Under -race it is
// sync/atomic.StoreUint64 everywhere, so that the race detector sees the
// edge.
//
// Cost on the Sapphire Rapids VM of the package documentation, ns per
// operation (ranges span the medians of separate runs):
//
//	                                                 StoreRelease64   atomic.StoreUint64
//	BenchmarkPublish/oneway: producer per store       9.7–10.8          33.8–39.5
//	BenchmarkPublish/oneway-msg64: message + store   42.7–50.4          54.8–59.0
//	BenchmarkPublish/roundtrip, two pinned CPUs       261–303            278–289
//	BenchmarkStoreRelease: same thread, uncontended   1.6–1.7            8.2–8.3
//
// The StoreRelease64 column is impl=asmstore of BenchmarkPublish (assembly
// store, sync/atomic load) and impl=asm of BenchmarkStoreRelease; the other
// is impl=atomic.
//
// The round trip does not improve (it is bimodal on that host, ≈ 235 or
// ≈ 330 ns, and the cache-line transfer dominates it): the gain is the
// producer's, which does not drain its store buffer on every publish as
// XCHGQ makes it.
//
// What it does not give: a store followed by a load of another location may
// be reordered (the load can complete before the store is visible), exactly
// what XCHGQ prevents. A Dekker-style handshake — publish a cursor, then
// check a waiter flag to decide whether to wake a parked consumer — needs
// sync/atomic.StoreUint64 (or another full barrier) between the two, or a
// wake-up is lost.
//
// p must be 8-byte aligned (an unaligned MOVQ that straddles a cache line is
// not atomic); Go aligns uint64 fields to 8 on 64-bit platforms, and offsets
// in shared memory must be multiples of 8. The Go memory model speaks only
// of sync/atomic; this store's ordering comes from the hardware (TSO) and
// from the compiler, which never moves memory accesses across a call to an
// assembly function.
//
// Pair it with sync/atomic.LoadUint64 on the reading side: an assembly
// load-acquire was measured and dropped, because atomic.LoadUint64 is already
// an inlined MOVQ on amd64 (and an LDAR on arm64) and an assembly call can
// only add to that (BenchmarkPublish/roundtrip/impl=asm, both sides in
// assembly, 313–338 ns against 278–289 ns for impl=atomic).
func StoreRelease64(p *uint64, v uint64) {
	if raceEnabled || !storeReleaseMOV {
		atomic.StoreUint64(p, v)
		return
	}
	storeRelease64(p, v)
}
