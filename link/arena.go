package link

import (
	"encoding/binary"
	"sync/atomic"
	"unsafe"

	"github.com/spinwire/spinwire/internal/msg"
	"github.com/spinwire/spinwire/layout"
	"golang.org/x/sys/unix"
)

// Arena: one memfd segment per trust domain (uid), its body laid out as
//
//	+---------------------------------------------------------------+
//	| Magic "SPWARENA" (u64)                                        |   0  block 0: the server,
//	| Version (u32)                 | Max Conns (u32)               |   8  written once
//	| Depth (u32)                   | Stride (u32)                  |  16
//	| reserved (u32)                | reserved                      |  24
//	| Slot Step (u64): from one of a connection's slots to the next |  32
//	| Bell Offset (u64)                                             |  40
//	| Slots Offset (u64)                                            |  48
//	| UID (u32)                     | reserved … to 128             |  56
//	+---------------------------------------------------------------+
//	| reserved block (server)                                       | 128
//	+---------------------------------------------------------------+
//	| Doorbell bitmap: one bit per connection, 64 per word          | 256  written by clients (OR),
//	| (rounded up to 128-byte blocks)                               |      cleared by the server
//	+---------------------------------------------------------------+
//	| Slot 0 of connection 0 | slot 0 of connection 1 | …          | Slots Offset
//	| Slot 1 of connection 0 | slot 1 of connection 1 | …          | + Slot Step
//	| …  (Depth rows of Max Conns slots; Slot Step = Max Conns × stride)
//
// Slot k of connection i is at Slots Offset + k × Slot Step + i × stride:
// the arena is laid out slot-major, so the first slot of every connection
// lies in one run of pages, the second in the next, and so on. A client
// with one call at a time uses only its first slot (see the jump below),
// so a thousand such connections touch 16 pages of shared memory, not 64;
// their sweeps also read consecutive lines, which the prefetcher follows.
//
// A connection has one ring of Depth call slots. A call's request and its
// response take the same slot, one after the other: the client writes the
// request there, the server reads it and writes the response over it, and
// the client takes the response and frees the slot. A slot is the message
// (Req or Resp, whichever is larger), then an id word and a sequence word
// ending the slot (stride: the larger message + 16, rounded up to 64):
//
//	+---------------------------------------------------------------+
//	|                   Req, then Resp over it; padding            ...
//	|       Id (u64): call id; bit 63 one way, 62 quiet, 61 follows | stride-16
//	|       Sequence (u64)                                          | stride-8
//	+---------------------------------------------------------------+
//
// One slot per call rather than a request ring and a response ring halves
// what a pipelining connection holds (256 bytes for 48-byte messages at
// the default Depth of 4, not 512), and a call moves one cache line between
// the two cores, not two. The server never waits for room for a response:
// the request's slot is it.
//
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

// The word in the arena holds seq − 2i, not seq: the initial state (seq =
// 2i in every slot) is then all zeroes, which is what a hole in the memfd
// reads. The server's reset at attach writes only the words on pages that
// exist (arena.hole), so the pages of a slot no one has used are never
// allocated: a connection that is attached and idle costs the host no
// shared memory at all.
const (
	arenaMagicOffset    = 0
	arenaVersionOffset  = 8
	arenaMaxConnsOffset = 12
	arenaDepthOffset    = 16
	arenaStrideOffset   = 20
	arenaStepOffset     = 32
	arenaBellOffOffset  = 40
	arenaSlotsOffOffset = 48
	arenaUIDOffset      = 56
	arenaHeaderLength   = 256 // two blocks
	arenaBellOffset     = 256
	arenaMagic          = 0x414e4552_41575053 // "SPWARENA"
	arenaVersion        = 3                   // 2: sequence words relative to the slot index; 3: one slot per call, slot-major, jumps
	slotTrailer         = 16                  // id and sequence
	slotAlign           = 64
	blockAlign          = 128
	// MaxDepth bounds Options.Depth.
	MaxDepth = 1024
)

// arenaGeometry is an arena's layout, computed by the server and checked by
// clients against the segment they mapped.
type arenaGeometry struct {
	maxConns          int
	depth             int
	stride            int // one call slot
	step              int // from slot k of a connection to slot k+1: maxConns × stride
	bellOff, slotsOff int
	length            int // body bytes
}

func stride(reqSize, respSize uintptr) int {
	return (int(max(reqSize, respSize)) + slotTrailer + slotAlign - 1) &^ (slotAlign - 1)
}

// slotOff is the body offset of slot k of connection index.
func (g arenaGeometry) slotOff(index, k int) int { return g.slotsOff + k*g.step + index*g.stride }

func geometry(maxConns, depth int, reqSize, respSize uintptr) arenaGeometry {
	g := arenaGeometry{maxConns: maxConns, depth: depth, stride: stride(reqSize, respSize)}
	g.step = maxConns * g.stride
	g.bellOff = arenaBellOffset
	bellWords := (maxConns + 63) / 64
	g.slotsOff = g.bellOff + (bellWords*8+blockAlign-1)&^(blockAlign-1)
	g.length = g.slotsOff + depth*g.step
	return g
}

// arena is the server's handle on one trust domain's segment.
type arena struct {
	seg  *layout.Segment
	uid  uint32
	g    arenaGeometry
	body []byte
}

func newArena(uid uint32, g arenaGeometry, fingerprint uint64) (*arena, error) {
	seg, err := layout.Create(g.length, layout.Options{Fingerprint: fingerprint, Sparse: true})
	if err != nil {
		return nil, err
	}
	a := &arena{seg: seg, uid: uid, g: g, body: seg.Body()}
	le := binary.LittleEndian
	b := a.body
	le.PutUint32(b[arenaVersionOffset:], arenaVersion)
	le.PutUint32(b[arenaMaxConnsOffset:], uint32(g.maxConns))
	le.PutUint32(b[arenaDepthOffset:], uint32(g.depth))
	le.PutUint32(b[arenaStrideOffset:], uint32(g.stride))
	le.PutUint64(b[arenaStepOffset:], uint64(g.step))
	le.PutUint64(b[arenaBellOffOffset:], uint64(g.bellOff))
	le.PutUint64(b[arenaSlotsOffOffset:], uint64(g.slotsOff))
	le.PutUint32(b[arenaUIDOffset:], uid)
	// SYNC: release of the arena header; clients read it after the
	// SCM_RIGHTS hand-over (a syscall, itself a barrier).
	atomic.StoreUint64((*uint64)(unsafe.Pointer(&b[arenaMagicOffset])), arenaMagic)
	return a, nil
}

// hole reports whether the n bytes at file offset off lie in a hole of the
// arena's memfd: no page there was ever written, so they read as zero and
// hold no memory. It asks lseek(SEEK_DATA), which tmpfs answers exactly
// (a swapped-out page counts as data). Cost: one syscall. Any error
// answers false: the caller then writes the bytes.
func (a *arena) hole(off, n int64) bool {
	next, err := unix.Seek(a.seg.Fd(), off, unix.SEEK_DATA)
	if err == unix.ENXIO {
		return true // no data from off to the end of the file
	}
	return err == nil && next >= off+n
}

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
	return (*uint64)(unsafe.Add(r.slot(p), r.size-8))
}
func (r *callRing) id(p uint64) *uint64 {
	return (*uint64)(unsafe.Add(r.slot(p), r.size-16))
}

// earlierFree reports whether s is the free value of p's slot for an
// earlier or the same lap (2q, q ≡ p mod Depth, q ≤ p): what a slot the
// client jumped over holds.
func (r *callRing) earlierFree(p, s uint64) bool {
	return s <= 2*p && (2*p-s)%(2*r.depth) == 0
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
	case r.earlierFree(p, s), s+2*r.depth == 2*p+2, s == 2*(p+r.depth)+1:
		// Not sent, or p−Depth's response not yet taken; or the client
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
func connRing(body []byte, g arenaGeometry, index int) callRing {
	d := uint64(g.depth)
	return callRing{base: unsafe.Pointer(unsafe.SliceData(body[g.slotOff(index, 0):])),
		depth: d, mask: d - 1, step: uintptr(g.step), size: uintptr(g.stride)}
}

// jumpPos is where a client with nothing in flight starts its next
// message, and where the server looks when p is not ready: p rounded up to
// a multiple of Depth (the connection's first slot).
func (r *callRing) jumpPos(p uint64) uint64 { return (p + r.mask) &^ r.mask }

// bellWord returns the doorbell word holding connection index's bit.
func bellWord(body []byte, g arenaGeometry, index int) *uint64 {
	return (*uint64)(unsafe.Pointer(&body[g.bellOff+8*(index/64)]))
}

// checkGeometry validates what a welcome says about the arena against the
// segment the client mapped: every offset and length must lie inside it.
func checkGeometry(w *welcome, body []byte, reqSize, respSize uintptr) (arenaGeometry, error) {
	le := binary.LittleEndian
	if len(body) < arenaHeaderLength || le.Uint64(body) != arenaMagic || le.Uint32(body[arenaVersionOffset:]) != arenaVersion {
		return arenaGeometry{}, msg.Errorf("%w: not an arena", ErrProtocol)
	}
	g := arenaGeometry{
		maxConns: int(le.Uint32(body[arenaMaxConnsOffset:])), depth: int(w.depth),
		stride: int(w.stride), step: int(w.step), bellOff: int(w.bellOff),
		slotsOff: int(le.Uint64(body[arenaSlotsOffOffset:])), length: len(body),
	}
	want := geometry(g.maxConns, g.depth, reqSize, respSize)
	bad := func(what string, v uint64) (arenaGeometry, error) {
		return arenaGeometry{}, msg.Errorf("%w: arena %s %d", ErrProtocol, what, v)
	}
	switch {
	case g.maxConns < 1 || g.maxConns > MaxConnsLimit:
		return bad("max conns", uint64(g.maxConns))
	case g.depth < 2 || g.depth > MaxDepth || g.depth&(g.depth-1) != 0:
		return bad("depth", uint64(g.depth))
	case g.stride != want.stride || g.step != want.step:
		return bad("stride", uint64(w.stride))
	case g.bellOff != want.bellOff || g.slotsOff != want.slotsOff:
		return bad("offsets", uint64(g.slotsOff))
	case want.length > len(body) || w.arenaLen != uint64(want.length):
		return bad("length", w.arenaLen)
	case uint64(w.index) >= uint64(g.maxConns) || w.slotOff != uint64(g.slotOff(int(w.index), 0)):
		return bad("slot", uint64(w.index))
	}
	if uintptr(unsafe.Pointer(unsafe.SliceData(body)))%slotAlign != 0 {
		return bad("alignment", 0)
	}
	return g, nil
}
