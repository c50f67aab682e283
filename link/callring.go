package link

import (
	"sync/atomic"
	"unsafe"
)

// Sequence protocol for the slot of position p (index i = p mod Depth),
// after D. Vyukov's bounded queue with a second step for the response —
// no cursors, so an idle connection costs nothing but its slots' address
// space:
//
//	seq == 2p              free for the call at p
//	seq == 2p+1            p's request is ready        (client → server)
//	seq == 2p+2            p's response is ready       (server → client)
//	seq == 2(p+Depth)      p is done: the slot is free for p+Depth
//
// The client writes the request and id, then stores 2p+1 (release); the
// server reads them after seeing 2p+1 (acquire), copies the request out,
// runs the handler on the slot, then stores 2p+2 (release); the client
// reads the response after seeing 2p+2 (acquire), then stores 2(p+Depth)
// (release). A one-way request has no response: the server stores
// 2(p+Depth) itself. Each side keeps its own positions in private memory
// and never reads them back from the arena; any sequence value other than
// those a correct peer can leave is corruption, and the connection is
// dropped. With Depth ≥ 2 the four values differ.
//
// The word in the arena holds seq − 2i, not seq: the initial state (seq =
// 2i in every slot) is then all zeroes, which is what a hole in the memfd
// reads. The server's reset at attach writes only the words on pages that
// exist (arena.hole), so the pages of a slot no one has used are never
// allocated: a connection that is attached and idle costs the host no
// shared memory at all.
//
// The jump. A client with nothing in flight — every call it sent answered
// and taken, the last message a call — and that sent only one message the
// last time it had nothing in flight (it calls one at a time; a client
// that pipelines goes on in order) starts its next message at the next
// multiple of Depth, the connection's first slot, instead of the next
// position, and marks it quiet (quietFlag in the id word). Positions
// skipped this way leave their slots as they were, "free" for some earlier
// lap (seq = 2q with q ≡ p mod Depth, q ≤ p), and both checks below accept
// such a value as free; the server's also accepts p+Depth's request there
// (the client went on past the jump into a slot it had skipped). The
// server, when the slot of its next position p is not ready and p is not a
// multiple of Depth, looks at the first slot for position roundup(p,
// Depth): a quiet request there was sent with nothing in flight, so p …
// q−1 were never sent, and the server jumps too.
//
// Reading a hole of the memfd allocates its page, as writing does, so
// after a quiet request the server does not read the next slot to see
// whether another request follows: the client tells it. When the client
// sends the position behind a quiet request, it sets followsFlag in that
// request's id word (atomic OR), then checks the doorbell. If the server
// read the id before the flag landed, it had swapped the doorbell word
// first, so the client finds its bit clear and rings it, and the server
// comes back and reads the next slot then. A one-call-at-a-time client
// thus uses one slot, one cache line, and one page per 64 connections.

// callRing is one connection's ring of call slots. It holds no positions:
// each side keeps its own.
type callRing struct {
	base  unsafe.Pointer // slot 0
	depth uint64
	mask  uint64
	step  uintptr // from one slot to the next
	size  uintptr // of a slot (the stride)
}

func (r *callRing) slot(p uint64) unsafe.Pointer {
	return unsafe.Add(r.base, uintptr(p&r.mask)*r.step)
}
func (r *callRing) seqWord(p uint64) *uint64 {
	return (*uint64)(unsafe.Add(r.slot(p), r.size-slotTrailer+trailerSeqOffset))
}
func (r *callRing) id(p uint64) *uint64 {
	return (*uint64)(unsafe.Add(r.slot(p), r.size-slotTrailer+trailerIDOffset))
}

// earlierFree reports whether s is the free value of p's slot for an
// earlier or the same lap (2q, q ≡ p mod Depth, q ≤ p): what a slot the
// client jumped over holds.
func (r *callRing) earlierFree(p, s uint64) bool {
	return s <= 2*p && (2*p-s)&(2*r.mask+1) == 0 // %(2·Depth): Depth is a power of two
}

// loadSeq returns the sequence of p's slot (atomic load: acquire).
func (r *callRing) loadSeq(p uint64) uint64 {
	return atomic.LoadUint64(r.seqWord(p)) + 2*(p&r.mask)
}

// storeSeq sets the sequence of p's slot to v (atomic store: release).
func (r *callRing) storeSeq(p, v uint64) {
	atomic.StoreUint64(r.seqWord(p), v-2*(p&r.mask))
}

// Results of a slot check.
const (
	slotNo      = iota // not free (client sending) / not ready (server, client taking)
	slotYes            // free / ready
	slotCorrupt        // a value no correct peer writes
)

// free reports whether the client may put the call of position p in its
// slot: the call of p−Depth there is done.
func (r *callRing) free(p uint64) int {
	// SYNC: acquire of the slot's release by the client (it took the
	// response of p−Depth) or by the server (it ran p−Depth one way);
	// pairs with done and with the server's one-way store.
	switch s := r.loadSeq(p); {
	case r.earlierFree(p, s):
		return slotYes // done: p−Depth, or an earlier lap the client jumped over since
	case s+2*r.depth == 2*p+1, s+2*r.depth == 2*p+2:
		return slotNo // p−Depth's request not yet served, or its response not yet taken
	}
	return slotCorrupt
}

// request reports whether the server may read the request of position p.
func (r *callRing) request(p uint64) int {
	// SYNC: acquire of the request and id; pairs with publish.
	switch s := r.loadSeq(p); {
	case s == 2*p+1:
		return slotYes
	case r.earlierFree(p, s), s+2*r.depth == 2*p+1, s+2*r.depth == 2*p+2, s == 2*(p+r.depth)+1:
		// Not sent: p−Depth not yet answered (deferred, defer.go), or its
		// response not yet taken; or the client
		// jumped over p (the slot still holds an earlier lap's free value,
		// or, once the client went on past the jump, p+Depth's request).
		return slotNo
	}
	return slotCorrupt
}

// response reports whether the client may read the response of position p.
func (r *callRing) response(p uint64) int {
	// SYNC: acquire of the response; pairs with answer.
	switch s := r.loadSeq(p); s {
	case 2*p + 2:
		return slotYes
	case 2*p + 1:
		return slotNo
	}
	return slotCorrupt
}

// publish makes the request at p visible to the server.
func (r *callRing) publish(p uint64) {
	// SYNC: release of the request and id; pairs with request.
	r.storeSeq(p, 2*p+1)
}

// answer makes the response at p visible to the client.
func (r *callRing) answer(p uint64) {
	// SYNC: release of the response; pairs with response.
	r.storeSeq(p, 2*p+2)
}

// done frees the slot of p for the call of p+Depth: the client after
// taking the response, the server after a one-way request.
func (r *callRing) done(p uint64) {
	// SYNC: release of the slot; pairs with free.
	r.storeSeq(p, 2*(p+r.depth))
}

// connRing returns the call ring of connection index in an arena body laid
// out by g. The caller has checked the geometry.
func connRing(body []byte, g *arenaGeometry, index int) callRing {
	d := uint64(g.depth)
	return callRing{base: unsafe.Pointer(unsafe.SliceData(body[g.slotOff(index, 0):])),
		depth: d, mask: d - 1, step: uintptr(g.step), size: uintptr(g.stride)}
}

// jumpPos is where a client with nothing in flight starts its next
// message, and where the server looks when p is not ready: p rounded up to
// a multiple of Depth (the connection's first slot).
func (r *callRing) jumpPos(p uint64) uint64 { return (p + r.mask) &^ r.mask }
