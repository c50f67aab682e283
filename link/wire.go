package link

import (
	"encoding/binary"
	"unsafe"

	"github.com/spinwire/spinwire/internal/msg"
)

// Set-up messages: one datagram each way over the SOCK_SEQPACKET socket,
// little-endian, the fixed fields first. Each side treats the other's
// message as hostile: lengths are bounded and every field range-checked
// (decodeHello, decodeWelcome, checkGeometry).
//
// Hello, client → server; the client process's liveness page rides along
// in SCM_RIGHTS if it has one:
//
//	+---------------------------------------------------------------+
//	| Magic "SPWHELLO" (u64)                                        |  0
//	| Version (u32)                 | Flags (u32): helloPush or 0   |  8
//	| Req Size (u32)                | Resp Size (u32)               | 16
//	| Req Fingerprint (u64)                                         | 24
//	| Resp Fingerprint (u64)                                        | 32
//	| Req Schema Length (u32)       | Resp Schema Length (u32)      | 40
//	| Push Size (u32)               | Push Schema Length (u32)      | 48
//	| Push Fingerprint (u64)                                        | 56
//	+---------------------------------------------------------------+
//	| Req schema text (layout.Schema.Encode), then Resp's, Push's  ...  64
//	+---------------------------------------------------------------+
//
// The push fields are zero unless Flags has helloPush: the client wants
// the server's pushes on this connection (push.go).
const (
	helloMagicOffset         = 0                            // u64: helloMagic
	helloVersionOffset       = helloMagicOffset + 8         // u32: wireVersion
	helloFlagsOffset         = helloVersionOffset + 4       // u32: helloPush, or zero
	helloReqSizeOffset       = helloFlagsOffset + 4         // u32: bytes of the client's Req
	helloRespSizeOffset      = helloReqSizeOffset + 4       // u32: bytes of the client's Resp
	helloReqFPOffset         = helloRespSizeOffset + 4      // u64: fingerprint of the client's Req
	helloRespFPOffset        = helloReqFPOffset + 8         // u64: fingerprint of the client's Resp
	helloReqSchemaLenOffset  = helloRespFPOffset + 8        // u32: bytes of Req's schema text, ≤ maxSchemaText
	helloRespSchemaLenOffset = helloReqSchemaLenOffset + 4  // u32: bytes of Resp's schema text, ≤ maxSchemaText
	helloPushSizeOffset      = helloRespSchemaLenOffset + 4 // u32: bytes of the client's push type
	helloPushSchemaLenOffset = helloPushSizeOffset + 4      // u32: bytes of its schema text, ≤ maxSchemaText
	helloPushFPOffset        = helloPushSchemaLenOffset + 4 // u64: its fingerprint
	helloFixedLength         = helloPushFPOffset + 8        // the schema texts follow
	helloMagic               = 0x4f4c4c45_48575053          // "SPWHELLO"
	maxSchemaText            = 32 << 10                     // bytes per schema text
	maxDatagram              = helloFixedLength + 3*maxSchemaText
	// helloPush, in Flags: the client takes pushes (DialPush).
	helloPush = 1
)

// Welcome, server → client; when Status is statusOK the arena's memfd and,
// if the server has one, its liveness page ride along in SCM_RIGHTS, in
// that order. With statusMismatch, Mismatch says which type differs and the
// message is the server's schema text of that type (empty if longer than
// maxMessage), so that the client names the field from its own side; with
// another refusal, the message says why, in words:
//
//	+---------------------------------------------------------------+
//	| Magic "SPWWELCM" (u64)                                        |  0
//	| Version (u32)                 | Status (u32)                  |  8
//	| Conn Index (u32)              | Depth (u32)                   | 16
//	| Stride (u32)                  | Mismatch (u32)                | 24
//	| Slot Offset (u64): the connection's first slot, in the body   | 32
//	| Slot Step (u64)                                               | 40
//	| Bell Offset (u64)                                             | 48
//	| Arena Length (u64): bytes of the body                         | 56
//	| Epoch (u64): the server's incarnation                         | 64
//	| Generation (u64): the connection's, unique in the server      | 72
//	| Schema Fingerprint (u64): of the server's type that differs   | 80
//	| Push Offset (u64): the connection's push ring; 0: none        | 88
//	| Push Depth (u32): 0: no push | Push Stride (u32)              | 96
//	| Message Length (u32)          | reserved (u32)                | 104
//	+---------------------------------------------------------------+
//	| Message: a schema text, or why the server refused            ... 112
//	+---------------------------------------------------------------+
//
// A server with a push type gives its push depth and stride to every
// client, which needs them for the arena's length; only a client that
// asked for pushes (helloPush) gets a ring (Push Offset).
const (
	welcomeMagicOffset      = 0                           // u64: welcomeMagic
	welcomeVersionOffset    = welcomeMagicOffset + 8      // u32: wireVersion
	welcomeStatusOffset     = welcomeVersionOffset + 4    // u32: statusOK, or why not
	welcomeIndexOffset      = welcomeStatusOffset + 4     // u32: the connection's index in the arena
	welcomeDepthOffset      = welcomeIndexOffset + 4      // u32: call slots per connection
	welcomeStrideOffset     = welcomeDepthOffset + 4      // u32: bytes of a call slot
	welcomeMismatchOffset   = welcomeStrideOffset + 4     // u32: statusMismatch: mismatchReq or mismatchResp
	welcomeSlotOffOffset    = welcomeMismatchOffset + 4   // u64: body offset of the connection's slot 0
	welcomeStepOffset       = welcomeSlotOffOffset + 8    // u64: from one of its slots to the next
	welcomeBellOffOffset    = welcomeStepOffset + 8       // u64: body offset of the doorbell bitmap
	welcomeArenaLenOffset   = welcomeBellOffOffset + 8    // u64: bytes of the arena's body
	welcomeEpochOffset      = welcomeArenaLenOffset + 8   // u64: the server's incarnation
	welcomeGenerationOffset = welcomeEpochOffset + 8      // u64: the connection's generation
	welcomeSchemaFPOffset   = welcomeGenerationOffset + 8 // u64: statusMismatch: the server's fingerprint of that type
	welcomePushOffOffset    = welcomeSchemaFPOffset + 8   // u64: body offset of the connection's push ring, or 0
	welcomePushDepthOffset  = welcomePushOffOffset + 8    // u32: slots of a push ring; 0: the server has no push type
	welcomePushStrideOffset = welcomePushDepthOffset + 4  // u32: bytes of a push slot
	welcomeMessageLenOffset = welcomePushStrideOffset + 4 // u32: bytes of the message, ≤ maxMessage
	welcomeReserved2Offset  = welcomeMessageLenOffset + 4 // u32: zero
	welcomeFixedLength      = welcomeReserved2Offset + 4  // the message follows
	welcomeMagic            = 0x4d434c45_57575053         // "SPWWELCM"
	maxMessage              = maxSchemaText               // bytes of text in a welcome
)

// wireVersion is in both messages; it changes with any incompatible change
// of either message or of the arena (arenaVersion).
const wireVersion = 5

// Welcome statuses.
const (
	statusOK       = iota // attached: the arena's fd rides along
	statusMismatch        // the layouts differ
	statusFull            // MaxConns attached, or no free slot
	statusDenied          // the Policy refused the client
	statusBadHello        // a malformed hello, or none in time
	statusBusy            // too many set-ups pending: try again
)

// Which type differs, in a welcome with statusMismatch.
const (
	mismatchReq  = 1
	mismatchResp = 2
	mismatchPush = 3 // the push types differ, or one side has none
)

// helloHeader and welcomeHeader mirror the fixed parts above; the asserts
// below fail to compile when a struct and the constants disagree.
type helloHeader struct {
	magic         uint64
	version       uint32
	flags         uint32
	reqSize       uint32
	respSize      uint32
	reqFP         uint64
	respFP        uint64
	reqSchemaLen  uint32
	respSchemaLen uint32
	pushSize      uint32
	pushSchemaLen uint32
	pushFP        uint64
}

type welcomeHeader struct {
	magic      uint64
	version    uint32
	status     uint32
	index      uint32
	depth      uint32
	stride     uint32
	mismatch   uint32
	slotOff    uint64
	step       uint64
	bellOff    uint64
	arenaLen   uint64
	epoch      uint64
	generation uint64
	schemaFP   uint64
	pushOff    uint64
	pushDepth  uint32
	pushStride uint32
	messageLen uint32
	reserved2  uint32
}

var (
	h0 helloHeader
	w0 welcomeHeader
)

var (
	_ = [1]struct{}{}[unsafe.Offsetof(h0.magic)-helloMagicOffset]
	_ = [1]struct{}{}[unsafe.Offsetof(h0.version)-helloVersionOffset]
	_ = [1]struct{}{}[unsafe.Offsetof(h0.flags)-helloFlagsOffset]
	_ = [1]struct{}{}[unsafe.Offsetof(h0.reqSize)-helloReqSizeOffset]
	_ = [1]struct{}{}[unsafe.Offsetof(h0.respSize)-helloRespSizeOffset]
	_ = [1]struct{}{}[unsafe.Offsetof(h0.reqFP)-helloReqFPOffset]
	_ = [1]struct{}{}[unsafe.Offsetof(h0.respFP)-helloRespFPOffset]
	_ = [1]struct{}{}[unsafe.Offsetof(h0.reqSchemaLen)-helloReqSchemaLenOffset]
	_ = [1]struct{}{}[unsafe.Offsetof(h0.respSchemaLen)-helloRespSchemaLenOffset]
	_ = [1]struct{}{}[unsafe.Offsetof(h0.pushSize)-helloPushSizeOffset]
	_ = [1]struct{}{}[unsafe.Offsetof(h0.pushSchemaLen)-helloPushSchemaLenOffset]
	_ = [1]struct{}{}[unsafe.Offsetof(h0.pushFP)-helloPushFPOffset]
	_ = [1]struct{}{}[unsafe.Sizeof(h0)-helloFixedLength]

	_ = [1]struct{}{}[unsafe.Offsetof(w0.magic)-welcomeMagicOffset]
	_ = [1]struct{}{}[unsafe.Offsetof(w0.version)-welcomeVersionOffset]
	_ = [1]struct{}{}[unsafe.Offsetof(w0.status)-welcomeStatusOffset]
	_ = [1]struct{}{}[unsafe.Offsetof(w0.index)-welcomeIndexOffset]
	_ = [1]struct{}{}[unsafe.Offsetof(w0.depth)-welcomeDepthOffset]
	_ = [1]struct{}{}[unsafe.Offsetof(w0.stride)-welcomeStrideOffset]
	_ = [1]struct{}{}[unsafe.Offsetof(w0.mismatch)-welcomeMismatchOffset]
	_ = [1]struct{}{}[unsafe.Offsetof(w0.slotOff)-welcomeSlotOffOffset]
	_ = [1]struct{}{}[unsafe.Offsetof(w0.step)-welcomeStepOffset]
	_ = [1]struct{}{}[unsafe.Offsetof(w0.bellOff)-welcomeBellOffOffset]
	_ = [1]struct{}{}[unsafe.Offsetof(w0.arenaLen)-welcomeArenaLenOffset]
	_ = [1]struct{}{}[unsafe.Offsetof(w0.epoch)-welcomeEpochOffset]
	_ = [1]struct{}{}[unsafe.Offsetof(w0.generation)-welcomeGenerationOffset]
	_ = [1]struct{}{}[unsafe.Offsetof(w0.schemaFP)-welcomeSchemaFPOffset]
	_ = [1]struct{}{}[unsafe.Offsetof(w0.pushOff)-welcomePushOffOffset]
	_ = [1]struct{}{}[unsafe.Offsetof(w0.pushDepth)-welcomePushDepthOffset]
	_ = [1]struct{}{}[unsafe.Offsetof(w0.pushStride)-welcomePushStrideOffset]
	_ = [1]struct{}{}[unsafe.Offsetof(w0.messageLen)-welcomeMessageLenOffset]
	_ = [1]struct{}{}[unsafe.Offsetof(w0.reserved2)-welcomeReserved2Offset]
	_ = [1]struct{}{}[unsafe.Sizeof(w0)-welcomeFixedLength]
)

// hello is a decoded hello: the client's view of Req and Resp, and of its
// push type if it takes pushes (flags has helloPush).
type hello struct {
	version              uint32
	flags                uint32
	reqSize, respSize    uint32
	reqFP, respFP        uint64
	reqSchema, respSchem []byte
	pushSize             uint32
	pushFP               uint64
	pushSchema           []byte
}

func (h *hello) encode() []byte {
	b := make([]byte, helloFixedLength, helloFixedLength+len(h.reqSchema)+len(h.respSchem)+len(h.pushSchema))
	le := binary.LittleEndian
	le.PutUint64(b[helloMagicOffset:], helloMagic)
	le.PutUint32(b[helloVersionOffset:], h.version)
	le.PutUint32(b[helloReqSizeOffset:], h.reqSize)
	le.PutUint32(b[helloRespSizeOffset:], h.respSize)
	le.PutUint64(b[helloReqFPOffset:], h.reqFP)
	le.PutUint64(b[helloRespFPOffset:], h.respFP)
	le.PutUint32(b[helloReqSchemaLenOffset:], uint32(len(h.reqSchema)))
	le.PutUint32(b[helloRespSchemaLenOffset:], uint32(len(h.respSchem)))
	le.PutUint32(b[helloFlagsOffset:], h.flags)
	le.PutUint32(b[helloPushSizeOffset:], h.pushSize)
	le.PutUint32(b[helloPushSchemaLenOffset:], uint32(len(h.pushSchema)))
	le.PutUint64(b[helloPushFPOffset:], h.pushFP)
	b = append(b, h.reqSchema...)
	b = append(b, h.respSchem...)
	return append(b, h.pushSchema...)
}

// decodeHello checks a hello from a client and returns it; its schema
// texts alias b. The version is returned, not checked: the server answers
// a wrong one with statusBadHello.
func decodeHello(b []byte) (hello, error) {
	le := binary.LittleEndian
	if len(b) < helloFixedLength || le.Uint64(b[helloMagicOffset:]) != helloMagic {
		return hello{}, msg.Errorf("%w: hello of %d bytes", ErrProtocol, len(b))
	}
	h := hello{
		version: le.Uint32(b[helloVersionOffset:]), flags: le.Uint32(b[helloFlagsOffset:]),
		reqSize: le.Uint32(b[helloReqSizeOffset:]), respSize: le.Uint32(b[helloRespSizeOffset:]),
		reqFP: le.Uint64(b[helloReqFPOffset:]), respFP: le.Uint64(b[helloRespFPOffset:]),
		pushSize: le.Uint32(b[helloPushSizeOffset:]), pushFP: le.Uint64(b[helloPushFPOffset:]),
	}
	rl := uint64(le.Uint32(b[helloReqSchemaLenOffset:]))
	sl := uint64(le.Uint32(b[helloRespSchemaLenOffset:]))
	pl := uint64(le.Uint32(b[helloPushSchemaLenOffset:]))
	if rl > maxSchemaText || sl > maxSchemaText || pl > maxSchemaText || uint64(len(b)) != helloFixedLength+rl+sl+pl {
		return hello{}, msg.Errorf("%w: hello schema lengths %d+%d+%d in %d bytes", ErrProtocol, rl, sl, pl, len(b))
	}
	if h.flags&^helloPush != 0 || (h.flags == 0 && (h.pushSize != 0 || h.pushFP != 0 || pl != 0)) {
		return hello{}, msg.Errorf("%w: hello flags %#x with push size %d", ErrProtocol, h.flags, h.pushSize)
	}
	t := b[helloFixedLength:]
	h.reqSchema, h.respSchem, h.pushSchema = t[:rl], t[rl:rl+sl], t[rl+sl:]
	return h, nil
}

// welcome is a decoded welcome: the connection's place in the arena, or
// why there is none.
type welcome struct {
	status            uint32
	index, depth      uint32
	stride            uint32
	mismatch          uint32 // statusMismatch: mismatchReq or mismatchResp
	slotOff, step     uint64
	bellOff, arenaLen uint64
	epoch, generation uint64
	schemaFP          uint64 // statusMismatch: the server's fingerprint of that type
	pushOff           uint64 // the connection's push ring, or 0
	pushDepth         uint32 // 0: the server has no push type
	pushStride        uint32
	message           string
}

func (w *welcome) encode() []byte { return w.appendTo(nil) }

// appendTo appends the encoded welcome to b[:0] (reusing b's array). A
// message longer than maxMessage is cut there.
func (w *welcome) appendTo(b []byte) []byte {
	text := w.message
	if len(text) > maxMessage {
		text = text[:maxMessage]
	}
	b = append(b[:0], make([]byte, welcomeFixedLength)...)
	le := binary.LittleEndian
	le.PutUint64(b[welcomeMagicOffset:], welcomeMagic)
	le.PutUint32(b[welcomeVersionOffset:], wireVersion)
	le.PutUint32(b[welcomeStatusOffset:], w.status)
	le.PutUint32(b[welcomeIndexOffset:], w.index)
	le.PutUint32(b[welcomeDepthOffset:], w.depth)
	le.PutUint32(b[welcomeStrideOffset:], w.stride)
	le.PutUint32(b[welcomeMismatchOffset:], w.mismatch)
	le.PutUint64(b[welcomeSlotOffOffset:], w.slotOff)
	le.PutUint64(b[welcomeStepOffset:], w.step)
	le.PutUint64(b[welcomeBellOffOffset:], w.bellOff)
	le.PutUint64(b[welcomeArenaLenOffset:], w.arenaLen)
	le.PutUint64(b[welcomeEpochOffset:], w.epoch)
	le.PutUint64(b[welcomeGenerationOffset:], w.generation)
	le.PutUint64(b[welcomeSchemaFPOffset:], w.schemaFP)
	le.PutUint64(b[welcomePushOffOffset:], w.pushOff)
	le.PutUint32(b[welcomePushDepthOffset:], w.pushDepth)
	le.PutUint32(b[welcomePushStrideOffset:], w.pushStride)
	le.PutUint32(b[welcomeMessageLenOffset:], uint32(len(text)))
	return append(b, text...)
}

// decodeWelcome checks a welcome from the server's side of the socket and
// returns it. What it says about the arena is checked against the arena
// itself by checkGeometry.
func decodeWelcome(b []byte) (*welcome, error) {
	le := binary.LittleEndian
	if len(b) < welcomeFixedLength || le.Uint64(b[welcomeMagicOffset:]) != welcomeMagic ||
		le.Uint32(b[welcomeVersionOffset:]) != wireVersion {
		return nil, msg.Errorf("%w: welcome of %d bytes", ErrProtocol, len(b))
	}
	w := &welcome{
		status: le.Uint32(b[welcomeStatusOffset:]),
		index:  le.Uint32(b[welcomeIndexOffset:]), depth: le.Uint32(b[welcomeDepthOffset:]),
		stride: le.Uint32(b[welcomeStrideOffset:]), mismatch: le.Uint32(b[welcomeMismatchOffset:]),
		slotOff: le.Uint64(b[welcomeSlotOffOffset:]), step: le.Uint64(b[welcomeStepOffset:]),
		bellOff: le.Uint64(b[welcomeBellOffOffset:]), arenaLen: le.Uint64(b[welcomeArenaLenOffset:]),
		epoch: le.Uint64(b[welcomeEpochOffset:]), generation: le.Uint64(b[welcomeGenerationOffset:]),
		schemaFP: le.Uint64(b[welcomeSchemaFPOffset:]),
		pushOff:  le.Uint64(b[welcomePushOffOffset:]), pushDepth: le.Uint32(b[welcomePushDepthOffset:]),
		pushStride: le.Uint32(b[welcomePushStrideOffset:]),
	}
	if n := uint64(le.Uint32(b[welcomeMessageLenOffset:])); n > maxMessage || uint64(len(b)) != welcomeFixedLength+n {
		return nil, msg.Errorf("%w: welcome message length %d in %d bytes", ErrProtocol, n, len(b))
	}
	w.message = string(b[welcomeFixedLength:])
	return w, nil
}
