package topic

import (
	"sync/atomic"
	"unsafe"

	"github.com/spinwire/spinwire/asm"
)

// copyOut reads len(dst) words of the slot at src, each with an atomic
// load (a plain MOV on amd64; an acquire load elsewhere, which keeps the
// sequence's second load after all of them).
func copyOut(dst []uint64, src unsafe.Pointer) {
	s := unsafe.Slice((*uint64)(src), len(dst))
	for i := range dst {
		dst[i] = atomic.LoadUint64(&s[i])
	}
}

// words returns how many uint64 words hold a T of size bytes.
func words(size uintptr) int { return int(size+7) / 8 }

// seqStore is the sequence store that publishes (or, with 0, withdraws) a
// slot: a release store (a MOV on amd64, inlined). The compiler keeps
// every withdrawal (see asm.StoreRelease64 on dead stores): in
// publishLong the copy between it and the publication reads memory, and
// Claim's withdrawals and Commit's publications are each in a loop of
// their own, which the dead-store pass, working within one block, does
// not look across.
func seqStore(p *uint64, v uint64) { asm.StoreRelease64(p, v) }
