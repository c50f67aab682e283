package asm

import "sync/atomic"

// StoreFence orders the stores the calling thread made before it before
// the stores it makes after it, as every other CPU sees them. A seqlock
// writer that withdraws a record (stores 0 in its sequence) and then
// lets plain stores fill it in place needs it between the two: a release
// store orders only what came before it, and on a weakly ordered CPU a
// later plain store may be seen first, so that a reader finds new bytes
// under the old sequence.
//
//   - amd64: nothing. Stores are seen in program order (TSO), and the
//     compiler keeps them in program order (see StoreRelease64).
//   - arm64: DMB ISHST, one assembly call.
//   - elsewhere, and on arm64 with noasm: a sync/atomic read-modify-write
//     of a local word, the strongest order Go gives without assembly (on
//     arm64 from ARMv8.1, an LDADDAL, which orders stores on both sides).
//
// Cost: nothing on amd64; one barrier per call elsewhere, meant for once
// per batch (topic's Publisher.Claim), not once per message.
func StoreFence() { storeFence() }

// storeFenceGeneric is the reference for storeFence: an atomic
// read-modify-write.
func storeFenceGeneric() {
	var w uint32
	atomic.AddUint32(&w, 0)
}
