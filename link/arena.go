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
//	| Depth (u32)                   | Req Stride (u32)              |  16
//	| Resp Stride (u32)             | reserved                      |  24
//	| Slot Length (u64)                                             |  32
//	| Bell Offset (u64)                                             |  40
//	| Slots Offset (u64)                                            |  48
//	| UID (u32)                     | reserved … to 128             |  56
//	+---------------------------------------------------------------+
//	| reserved block (server)                                       | 128
//	+---------------------------------------------------------------+
//	| Doorbell bitmap: one bit per connection, 64 per word          | 256  written by clients (OR),
//	| (rounded up to 128-byte blocks)                               |      cleared by the server
//	+---------------------------------------------------------------+
//	| Connection 0: request ring | response ring                    | Slots Offset
//	| Connection 1: …                                               | + i × Slot Length
//
// A connection's rings are Depth slots each. A slot is the message, then
// an id word and a sequence word ending the slot (stride: message + 16
// rounded up to 64):
//
//	+---------------------------------------------------------------+
//	|                   Req or Resp, then padding                  ...
//	|       Id (u64): the call's correlation id; bit 63: one way    | stride-16
//	|       Sequence (u64)                                          | stride-8
//	+---------------------------------------------------------------+
//
// Sequence protocol for the slot of position p (index i = p mod Depth),
// after D. Vyukov's bounded queue — no cursors, so an idle connection costs
// its slots and nothing else:
//
//	seq == p           free for position p
//	seq == p+1         the message for p is ready
//	seq == p+1-Depth   still holds p-Depth, not yet consumed (producer: full)
//
// The producer writes the message and id, then stores seq = p+1 (release);
// the consumer reads them after seeing p+1 (acquire), then stores
// seq = p+Depth (release), freeing the slot for the next lap. Each side
// keeps its own position in private memory and never reads it back from the
// arena; any other sequence value is corruption, and the connection is
// dropped.
//
// The word in the arena holds seq − i, not seq: the initial state (seq = i
// in every slot) is then all zeroes, which is what a hole in the memfd
// reads. The server's reset at attach writes only the words on pages that
// exist (arena.hole), so the pages of a slot no one has used are never
// allocated: a connection that is attached and idle costs the host no
// shared memory at all.
const (
	arenaMagicOffset     = 0
	arenaVersionOffset   = 8
	arenaMaxConnsOffset  = 12
	arenaDepthOffset     = 16
	arenaReqStrideOffset = 20
	arenaRespStrOffset   = 24
	arenaSlotLenOffset   = 32
	arenaBellOffOffset   = 40
	arenaSlotsOffOffset  = 48
	arenaUIDOffset       = 56
	arenaHeaderLength    = 256 // two blocks
	arenaBellOffset      = 256
	arenaMagic           = 0x414e4552_41575053 // "SPWARENA"
	arenaVersion         = 2                   // 2: sequence words relative to the slot index
	slotTrailer          = 16                  // id and sequence
	slotAlign            = 64
	blockAlign           = 128
	// MaxDepth bounds Options.Depth.
	MaxDepth = 1024
)

// arenaGeometry is an arena's layout, computed by the server and checked by
// clients against the segment they mapped.
type arenaGeometry struct {
	maxConns              int
	depth                 int
	reqStride, respStride int
	slotLen               int
	bellOff, slotsOff     int
	length                int // body bytes
}

func stride(msgSize uintptr) int {
	return (int(msgSize) + slotTrailer + slotAlign - 1) &^ (slotAlign - 1)
}

func geometry(maxConns, depth int, reqSize, respSize uintptr) arenaGeometry {
	g := arenaGeometry{maxConns: maxConns, depth: depth, reqStride: stride(reqSize), respStride: stride(respSize)}
	g.slotLen = depth * (g.reqStride + g.respStride)
	g.bellOff = arenaBellOffset
	bellWords := (maxConns + 63) / 64
	g.slotsOff = g.bellOff + (bellWords*8+blockAlign-1)&^(blockAlign-1)
	g.length = g.slotsOff + maxConns*g.slotLen
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
	le.PutUint32(b[arenaReqStrideOffset:], uint32(g.reqStride))
	le.PutUint32(b[arenaRespStrOffset:], uint32(g.respStride))
	le.PutUint64(b[arenaSlotLenOffset:], uint64(g.slotLen))
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

// slotRing is one direction of one connection. It holds no positions:
// each side keeps its own.
type slotRing struct {
	base   unsafe.Pointer
	depth  uint64
	mask   uint64
	stride uintptr
}

func (r *slotRing) slot(p uint64) unsafe.Pointer {
	return unsafe.Add(r.base, uintptr(p&r.mask)*r.stride)
}
func (r *slotRing) seqWord(p uint64) *uint64 {
	return (*uint64)(unsafe.Add(r.slot(p), r.stride-8))
}

// loadSeq returns the sequence of p's slot (atomic load: acquire).
func (r *slotRing) loadSeq(p uint64) uint64 {
	return atomic.LoadUint64(r.seqWord(p)) + p&r.mask
}

// storeSeq sets the sequence of p's slot to v (atomic store: release).
func (r *slotRing) storeSeq(p, v uint64) {
	atomic.StoreUint64(r.seqWord(p), v-p&r.mask)
}
func (r *slotRing) id(p uint64) *uint64 {
	return (*uint64)(unsafe.Add(r.slot(p), r.stride-16))
}

// Results of a slot check.
const (
	slotNo      = iota // not free (producer) / not ready (consumer)
	slotYes            // free / ready
	slotCorrupt        // a value no correct peer writes
)

// free reports whether the producer may fill position p.
func (r *slotRing) free(p uint64) int {
	// SYNC: acquire of the consumer's release of the slot (seq = p); pairs
	// with consumed.
	switch s := r.loadSeq(p); {
	case s == p:
		return slotYes
	case s+r.depth == p+1:
		return slotNo
	}
	return slotCorrupt
}

// publish makes the message at p visible.
func (r *slotRing) publish(p uint64) {
	// SYNC: release of the message and id; pairs with ready.
	r.storeSeq(p, p+1)
}

// ready reports whether the message at p may be read.
func (r *slotRing) ready(p uint64) int {
	// SYNC: acquire of the message; pairs with publish.
	switch s := r.loadSeq(p); s {
	case p + 1:
		return slotYes
	case p:
		return slotNo
	}
	return slotCorrupt
}

// consumed frees the slot of p for position p+depth.
func (r *slotRing) consumed(p uint64) {
	// SYNC: release of the slot; pairs with free.
	r.storeSeq(p, p+r.depth)
}

// connRings returns the request and response rings of connection index in
// an arena body laid out by g. The caller has checked the geometry.
func connRings(body []byte, g arenaGeometry, index int) (req, resp slotRing) {
	base := unsafe.Pointer(unsafe.SliceData(body[g.slotsOff+index*g.slotLen:]))
	d := uint64(g.depth)
	req = slotRing{base: base, depth: d, mask: d - 1, stride: uintptr(g.reqStride)}
	resp = slotRing{base: unsafe.Add(base, g.depth*g.reqStride), depth: d, mask: d - 1, stride: uintptr(g.respStride)}
	return
}

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
		reqStride: int(w.reqStride), respStride: int(w.respStride),
		slotLen: int(w.slotLen), bellOff: int(w.bellOff),
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
	case g.reqStride != want.reqStride || g.respStride != want.respStride || g.slotLen != want.slotLen:
		return bad("stride", uint64(w.reqStride))
	case g.bellOff != want.bellOff || g.slotsOff != want.slotsOff:
		return bad("offsets", uint64(g.slotsOff))
	case want.length > len(body) || w.arenaLen != uint64(want.length):
		return bad("length", w.arenaLen)
	case uint64(w.index) >= uint64(g.maxConns) || w.slotOff != uint64(g.slotsOff+int(w.index)*g.slotLen):
		return bad("slot", uint64(w.index))
	}
	if uintptr(unsafe.Pointer(unsafe.SliceData(body)))%slotAlign != 0 {
		return bad("alignment", 0)
	}
	return g, nil
}
