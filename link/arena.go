package link

import (
	"encoding/binary"
	"unsafe"

	"github.com/spinwire/spinwire/internal/msg"
)

// Arena: one memfd segment per trust domain — per client process (see
// server_domains.go) — its body laid out as
//
//	+---------------------------------------------------------------+
//	| Magic "SPWARENA" (u64)                                        |   0  block 0: the server,
//	| Version (u32)                 | Max Conns (u32)               |   8  rewritten at each attach
//	| Depth (u32)                   | Stride (u32)                  |  16
//	| reserved (u32)                | reserved                      |  24
//	| Slot Step (u64): from one of a connection's slots to the next |  32
//	| Bell Offset (u64)                                             |  40
//	| Slots Offset (u64)                                            |  48
//	| reserved … to 128                                             |  56
//	+---------------------------------------------------------------+
//	| reserved block (server)                                       | 128
//	+---------------------------------------------------------------+
//	| Doorbell bitmap: one bit per connection, 64 per word          | 256  written by clients (OR),
//	| (rounded up to 128-byte blocks)                               |      cleared by the server
//	+---------------------------------------------------------------+
//	| Slot 0 of connection 0 | slot 0 of connection 1 | …          | Slots Offset
//	| Slot 1 of connection 0 | slot 1 of connection 1 | …          | + Slot Step
//	| …  (Depth rows of Max Conns slots; Slot Step = Max Conns × stride)
//	+---------------------------------------------------------------+
//	| Push ring of connection 0 | of connection 1 | …               | Push Offset
//	| (a server with a push type only: Max Conns rings of Push Bytes, push.go)
//
// Slot k of connection i is at Slots Offset + k × Slot Step + i × stride:
// the arena is laid out slot-major, so the first slot of every connection
// lies in one run of pages, the second in the next, and so on. A client
// with one call at a time uses only its first slot (the jump, callring.go),
// so a thousand such connections touch 16 pages of shared memory, not 64;
// their sweeps also read consecutive lines, which the prefetcher follows.
//
// The header describes the arena to whoever opens it; no one relies on
// it afterwards. The server keeps the geometry privately and never reads
// the header back; it rewrites it (with the segment's own header) at each
// attach, so a process that scribbled over it breaks no later set-up of
// its own. A client takes the geometry from its welcome, checks it against
// the size of the segment it mapped (checkGeometry), and checks the
// header's magic and version once, when it first maps the arena.
//
// A connection has one ring of Depth call slots. A call's request and its
// response take the same slot, one after the other: the client writes the
// request there, the server reads it and writes the response over it, and
// the client takes the response and frees the slot. A slot is the message
// (Req or Resp, whichever is larger), then an id word and a sequence word
// ending the slot (stride: the larger message + slotTrailer, rounded up to
// slotAlign):
//
//	+---------------------------------------------------------------+
//	|                   Req, then Resp over it; padding            ...
//	|   Id (u64): call id + tag; bit 63 one way, 62 quiet, 61 follows | stride-16
//	|       Sequence (u64): seq − 2i                                | stride-8
//	+---------------------------------------------------------------+
//
// The id word carries the call's id plus the attachment's tag, a random
// 61-bit number the client draws at each attach, so that a response is
// accepted only from a slot whose id word holds exactly what the client
// wrote: a stray write into a connection's slots, even one that knows the
// ids are sequential, fails the check. The server never reads the id: it
// leaves it in place under the response. The tag guards against writers
// that cannot read the slot; a process can read (and so copy) the tags of
// its own connections, and no other process can map its arena.
//
// One slot per call rather than a request ring and a response ring halves
// what a pipelining connection holds (256 bytes for 48-byte messages at
// the default Depth of 4, not 512), and a call moves one cache line between
// the two cores, not two. The server never waits for room for a response:
// the request's slot is it.

const (
	arenaMagicOffset    = 0                       // u64: arenaMagic, stored last (release)
	arenaVersionOffset  = arenaMagicOffset + 8    // u32: arenaVersion
	arenaMaxConnsOffset = arenaVersionOffset + 4  // u32: connections the arena has slots for
	arenaDepthOffset    = arenaMaxConnsOffset + 4 // u32: call slots per connection
	arenaStrideOffset   = arenaDepthOffset + 4    // u32: bytes of a call slot
	arenaReservedOffset = arenaStrideOffset + 4   // two u32, zero
	arenaStepOffset     = arenaReservedOffset + 8 // u64: Slot Step
	arenaBellOffOffset  = arenaStepOffset + 8     // u64: Bell Offset
	arenaSlotsOffOffset = arenaBellOffOffset + 8  // u64: Slots Offset
	arenaHeaderLength   = 2 * blockAlign          // the server's two blocks
	arenaBellOffset     = arenaHeaderLength       // the doorbell bitmap follows them
	arenaMagic          = 0x414e4552_41575053     // "SPWARENA"
	// arenaVersion changes with any incompatible change of the arena's
	// layout or of the call slot protocol (callring.go).
	arenaVersion = 5
	slotAlign    = 64  // a call slot starts on a cache line
	blockAlign   = 128 // what different processes write sits in different blocks
	// MaxDepth bounds Options.Depth.
	MaxDepth = 1024
)

// The call slot's trailer: the last slotTrailer bytes of every slot.
const (
	trailerIDOffset  = 0                   // u64: the call's id and its flags (below)
	trailerSeqOffset = trailerIDOffset + 8 // u64: the sequence word, seq − 2i (callring.go)
	slotTrailer      = trailerSeqOffset + 8
)

// Flags in a request's id word, above the id itself.
const (
	// oneWay: the server runs the handler and sends no response.
	oneWay = 1 << 63
	// quietFlag: the client had nothing in flight when it sent this (and
	// so may have jumped to it; callring.go). After serving it the server
	// does not look at the next slot unless followsFlag is set: the
	// client's next message goes to its first slot, or it says so.
	quietFlag = 1 << 62
	// followsFlag: set on a quiet request (atomic OR) when the client
	// sends the next position behind it, before it checks the doorbell.
	followsFlag = 1 << 61
	idFlags     = oneWay | quietFlag | followsFlag
)

// arenaHeader mirrors the arena header above; the asserts below fail to
// compile when the struct and the constants disagree.
type arenaHeader struct {
	magic    uint64
	version  uint32
	maxConns uint32
	depth    uint32
	stride   uint32
	_        [2]uint32
	step     uint64
	bellOff  uint64
	slotsOff uint64
	_        [arenaHeaderLength - arenaSlotsOffOffset - 8]byte
}

var a0 arenaHeader

var (
	_ = [1]struct{}{}[unsafe.Offsetof(a0.magic)-arenaMagicOffset]
	_ = [1]struct{}{}[unsafe.Offsetof(a0.version)-arenaVersionOffset]
	_ = [1]struct{}{}[unsafe.Offsetof(a0.maxConns)-arenaMaxConnsOffset]
	_ = [1]struct{}{}[unsafe.Offsetof(a0.depth)-arenaDepthOffset]
	_ = [1]struct{}{}[unsafe.Offsetof(a0.stride)-arenaStrideOffset]
	_ = [1]struct{}{}[unsafe.Offsetof(a0.step)-arenaStepOffset]
	_ = [1]struct{}{}[unsafe.Offsetof(a0.bellOff)-arenaBellOffOffset]
	_ = [1]struct{}{}[unsafe.Offsetof(a0.slotsOff)-arenaSlotsOffOffset]
	_ = [1]struct{}{}[unsafe.Sizeof(a0)-arenaHeaderLength]
)

// arenaGeometry is an arena's layout, computed by the server and checked by
// clients (from their welcome) against the segment they mapped.
type arenaGeometry struct {
	maxConns          int
	depth             int
	stride            int // one call slot
	step              int // from slot k of a connection to slot k+1: maxConns × stride
	bellOff, slotsOff int
	// The push region (push.go), for a server with a push type: Max Conns
	// rings of pushBytes from pushOff; all zero without one.
	pushDepth, pushStride int
	pushOff, pushBytes    int
	length                int // body bytes
}

func stride(reqSize, respSize uintptr) int {
	return (int(max(reqSize, respSize)) + slotTrailer + slotAlign - 1) &^ (slotAlign - 1)
}

// slotOff is the body offset of slot k of connection index.
func (g *arenaGeometry) slotOff(index, k int) int { return g.slotsOff + k*g.step + index*g.stride }

func geometry(maxConns, depth int, reqSize, respSize uintptr) arenaGeometry {
	g := arenaGeometry{maxConns: maxConns, depth: depth, stride: stride(reqSize, respSize)}
	g.step = maxConns * g.stride
	g.bellOff = arenaBellOffset
	bellWords := (maxConns + 63) / 64
	g.slotsOff = g.bellOff + (bellWords*8+blockAlign-1)&^(blockAlign-1)
	g.length = g.slotsOff + depth*g.step
	return g
}

// withPush adds a push region of rings of depth slots of stride bytes
// (push.go) after the call slots, from the next page boundary (4 KiB on
// every host, so that both sides compute the same offsets).
func (g arenaGeometry) withPush(depth, stride int) arenaGeometry {
	if depth == 0 {
		return g
	}
	g.pushDepth, g.pushStride = depth, stride
	g.pushOff = (g.length + pushAlign - 1) &^ (pushAlign - 1)
	g.pushBytes = (pushHeader + depth*stride + blockAlign - 1) &^ (blockAlign - 1)
	g.length = g.pushOff + g.maxConns*g.pushBytes
	return g
}

// pushRingOff is the body offset of connection index's push ring.
func (g arenaGeometry) pushRingOff(index int) int { return g.pushOff + index*g.pushBytes }

// bellWord returns the doorbell word holding connection index's bit.
func bellWord(body []byte, g *arenaGeometry, index int) *uint64 {
	return (*uint64)(unsafe.Pointer(&body[g.bellOff+8*(index/64)]))
}

// checkArenaHeader checks the magic and version of an arena the client
// maps for the first time.
func checkArenaHeader(body []byte) error {
	le := binary.LittleEndian
	if len(body) < arenaHeaderLength || le.Uint64(body[arenaMagicOffset:]) != arenaMagic {
		return msg.Errorf("%w: not an arena", ErrProtocol)
	}
	if v := le.Uint32(body[arenaVersionOffset:]); v != arenaVersion {
		return msg.Errorf("%w: arena version %d; this client speaks %d", ErrProtocol, v, arenaVersion)
	}
	return nil
}

// checkGeometry validates what a welcome says about the arena against the
// segment the client mapped, reading nothing from the segment: every
// offset and length must be what the server computes for our types
// (welcomeGeometry), and lie inside the mapping.
func checkGeometry(w *welcome, body []byte, reqSize, respSize, pushSize uintptr) (arenaGeometry, error) {
	g, err := welcomeGeometry(w, reqSize, respSize, pushSize)
	if err != nil {
		return g, err
	}
	if g.length > len(body) {
		return arenaGeometry{}, msg.Errorf("%w: arena length %d in a segment of %d", ErrProtocol, g.length, len(body))
	}
	if uintptr(unsafe.Pointer(unsafe.SliceData(body)))%slotAlign != 0 {
		return arenaGeometry{}, msg.Errorf("%w: arena body misaligned", ErrProtocol)
	}
	return g, nil
}

// welcomeGeometry returns the arena geometry a welcome describes, when it
// is what the server computes for our types: before the client maps the
// arena, so that it maps no more than that (openArena). pushSize is the
// size of the client's push type, 0 when it has none: the push region is
// then checked for its bounds only.
func welcomeGeometry(w *welcome, reqSize, respSize, pushSize uintptr) (arenaGeometry, error) {
	bad := func(what string, v uint64) (arenaGeometry, error) {
		return arenaGeometry{}, msg.Errorf("%w: arena %s %d", ErrProtocol, what, v)
	}
	st := uint64(stride(reqSize, respSize))
	switch {
	case uint64(w.stride) != st:
		return bad("stride", uint64(w.stride))
	case w.step%st != 0 || w.step/st < 1 || w.step/st > MaxConnsLimit:
		return bad("step", w.step)
	case w.depth < 2 || w.depth > MaxDepth || w.depth&(w.depth-1) != 0:
		return bad("depth", uint64(w.depth))
	}
	g := geometry(int(w.step/st), int(w.depth), reqSize, respSize)
	if err := checkPushGeometry(w, pushSize); err != nil {
		return arenaGeometry{}, err
	}
	g = g.withPush(int(w.pushDepth), int(w.pushStride))
	switch {
	case w.bellOff != uint64(g.bellOff):
		return bad("offsets", w.bellOff)
	case w.arenaLen != uint64(g.length):
		return bad("length", w.arenaLen)
	case uint64(w.index) >= uint64(g.maxConns) || w.slotOff != uint64(g.slotOff(int(w.index), 0)):
		return bad("slot", uint64(w.index))
	case pushSize != 0 && w.pushOff != uint64(g.pushRingOff(int(w.index))):
		return bad("push ring", w.pushOff)
	}
	return g, nil
}

// checkPushGeometry checks what a welcome says of the push region: none,
// or rings of MinPushDepth…MaxPushDepth slots of a stride that fits
// pushSize when the client has a push type (pushSize ≠ 0), and within
// maxPushStride when it has not; a ring offset only for a push client.
func checkPushGeometry(w *welcome, pushSize uintptr) error {
	bad := func(what string, v uint64) error {
		return msg.Errorf("%w: arena push %s %d", ErrProtocol, what, v)
	}
	d, st := w.pushDepth, w.pushStride
	switch {
	case d == 0 && (st != 0 || w.pushOff != 0 || pushSize != 0):
		return bad("region", uint64(st))
	case d == 0:
		return nil
	case d < MinPushDepth || d > MaxPushDepth || d&(d-1) != 0:
		return bad("depth", uint64(d))
	case pushSize != 0 && int(st) != pushStride(pushSize):
		return bad("stride", uint64(st))
	case st%slotAlign != 0 || st == 0 || st > maxPushStride:
		return bad("stride", uint64(st))
	case pushSize == 0 && w.pushOff != 0:
		return bad("ring", w.pushOff)
	}
	return nil
}
