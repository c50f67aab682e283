package link

import (
	"encoding/binary"
	"unsafe"

	"github.com/spinwire/spinwire/internal/msg"
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
