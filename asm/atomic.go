package asm

import "sync/atomic"

// StoreRelease64 stores v into *p with release ordering: every load and
// store the calling goroutine made before it is visible to a goroutine,
// thread or process that loads v from *p with acquire ordering
// (sync/atomic.LoadUint64, or any plain load on amd64) and then reads on.
//
// On amd64 it is one MOVQ, inlined into the caller, which x86-TSO makes a
// release, where sync/atomic.StoreUint64 is an XCHGQ (a full barrier). On
// arm64 and with noasm it is sync/atomic.StoreUint64 (on arm64 that is
// already a single STLR, inlined). Under -race it is sync/atomic.StoreUint64
// everywhere, so that the race detector sees the edge.
//
// Cost on the Sapphire Rapids VM of the package documentation, ns per
// operation (ranges span the medians of separate runs), when the MOVQ was
// an assembly function (storeRelease64, still in the benchmarks as
// impl=asm and impl=asmstore):
//
//	                                                 assembly MOVQ   atomic.StoreUint64
//	BenchmarkPublish/oneway: producer per store       9.7–10.8          33.8–39.5
//	BenchmarkPublish/oneway-msg64: message + store   42.7–50.4          54.8–59.0
//	BenchmarkPublish/roundtrip, two pinned CPUs       261–303            278–289
//	BenchmarkStoreRelease: same thread, uncontended   1.6–1.7            8.2–8.3
//
// The round trip does not improve (it is bimodal on that host, ≈ 235 or
// ≈ 330 ns, and the cache-line transfer dominates it): the gain is the
// producer's, which does not drain its store buffer on every publish as
// XCHGQ makes it.
//
// The MOVQ is now a plain Go store (BenchmarkStoreRelease impl=inline),
// because the call to the assembly one (with its return address, its
// arguments and the caller's register saves) cost a producer that
// publishes a message at a time, whose stores wait for lines the consumer
// holds. On the AMD EPYC host, pingpong -mode throughput -protocol inslot
// -size 64 -batch 1 (one StoreRelease64 per message) went from 36 to
// 39 M msg/s in the host's usual state and from 148 to 166 M in its fast
// one (docs/benchmarks.md, "Stream sessions", ninth). The
// compiler keeps it in order: every load and store takes the memory
// state the one before it left, so none is scheduled across it
// (cmd/compile/internal/ssa's schedule also orders each load before the
// next store), and the CPU then keeps that order (TSO).
//
// What the compiler may do with it: drop it when, in the same basic
// block, another store to the same address follows with only stores in
// between (its dead-store pass; any load, copy or call in between keeps
// it). A seqlock's withdrawal — store 0, write the record, store the
// sequence — is safe when the record is copied from memory, as it is,
// but not when it is written from registers alone: use SeqWrite there,
// or sync/atomic.
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
// from the compiler's ordering of stores, above.
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
	*p = v // one MOVQ: see above
}
