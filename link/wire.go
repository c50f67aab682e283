package link

import (
	"encoding/binary"

	"github.com/spinwire/spinwire/internal/msg"
)

// Set-up messages travel over the SOCK_SEQPACKET socket, one datagram each,
// little-endian, fixed fields first. Both sides treat the other's message as
// hostile: lengths are bounded, fields range-checked.
//
// hello (client → server; the client process's liveness page rides along
// in SCM_RIGHTS if it has one):
//
//	 0 magic "SPWHELLO"   8 version u32   12 flags u32
//	16 req size u32      20 resp size u32
//	24 req fingerprint   32 resp fingerprint
//	40 req schema length u32   44 resp schema length u32
//	48 req schema …, resp schema …
//
// welcome (server → client; when status is statusOK the arena memfd and,
// if the server has one, its liveness page ride along in SCM_RIGHTS, in
// that order):
//
//	 0 magic "SPWWELCM"   8 version u32   12 status u32
//	16 conn index u32    20 depth u32
//	24 stride u32        28 reserved u32
//	32 slot offset u64   40 slot step u64
//	48 bell offset u64   56 arena length u64
//	64 epoch u64         72 generation u64
//	80 message length u32  84 reserved
//	88 message …
const (
	helloMagic    = 0x4f4c4c45_48575053 // "SPWHELLO"
	welcomeMagic  = 0x4d434c45_57575053 // "SPWWELCM"
	wireVersion   = 2                   // 2: one call slot per call (arena version 3)
	helloFixed    = 48
	welcomeFixed  = 88
	maxSchemaText = 32 << 10 // bytes per schema in a hello
	maxMessage    = 4 << 10  // bytes of error text in a welcome
	maxDatagram   = helloFixed + 2*maxSchemaText
)

// Welcome statuses.
const (
	statusOK = iota
	statusMismatch
	statusFull
	statusDenied
	statusBadHello
)

type hello struct {
	version              uint32
	reqSize, respSize    uint32
	reqFP, respFP        uint64
	reqSchema, respSchem []byte
}

func (h *hello) encode() []byte {
	b := make([]byte, helloFixed, helloFixed+len(h.reqSchema)+len(h.respSchem))
	le := binary.LittleEndian
	le.PutUint64(b[0:], helloMagic)
	le.PutUint32(b[8:], h.version)
	le.PutUint32(b[16:], h.reqSize)
	le.PutUint32(b[20:], h.respSize)
	le.PutUint64(b[24:], h.reqFP)
	le.PutUint64(b[32:], h.respFP)
	le.PutUint32(b[40:], uint32(len(h.reqSchema)))
	le.PutUint32(b[44:], uint32(len(h.respSchem)))
	b = append(b, h.reqSchema...)
	return append(b, h.respSchem...)
}

func decodeHello(b []byte) (hello, error) {
	le := binary.LittleEndian
	if len(b) < helloFixed || le.Uint64(b) != helloMagic {
		return hello{}, msg.Errorf("%w: hello of %d bytes", ErrProtocol, len(b))
	}
	h := hello{version: le.Uint32(b[8:]), reqSize: le.Uint32(b[16:]), respSize: le.Uint32(b[20:]),
		reqFP: le.Uint64(b[24:]), respFP: le.Uint64(b[32:])}
	rl, sl := uint64(le.Uint32(b[40:])), uint64(le.Uint32(b[44:]))
	if rl > maxSchemaText || sl > maxSchemaText || uint64(len(b)) != helloFixed+rl+sl {
		return hello{}, msg.Errorf("%w: hello schema lengths %d+%d in %d bytes", ErrProtocol, rl, sl, len(b))
	}
	h.reqSchema, h.respSchem = b[helloFixed:helloFixed+rl], b[helloFixed+rl:]
	return h, nil
}

type welcome struct {
	status            uint32
	index, depth      uint32
	stride            uint32
	slotOff, step     uint64
	bellOff, arenaLen uint64
	epoch, generation uint64
	message           string
}

func (w *welcome) encode() []byte { return w.appendTo(nil) }

// appendTo appends the encoded welcome to b[:0] (reusing b's array).
func (w *welcome) appendTo(b []byte) []byte {
	text := w.message
	if len(text) > maxMessage {
		text = text[:maxMessage]
	}
	b = append(b[:0], make([]byte, welcomeFixed)...)
	le := binary.LittleEndian
	le.PutUint64(b[0:], welcomeMagic)
	le.PutUint32(b[8:], wireVersion)
	le.PutUint32(b[12:], w.status)
	le.PutUint32(b[16:], w.index)
	le.PutUint32(b[20:], w.depth)
	le.PutUint32(b[24:], w.stride)
	le.PutUint64(b[32:], w.slotOff)
	le.PutUint64(b[40:], w.step)
	le.PutUint64(b[48:], w.bellOff)
	le.PutUint64(b[56:], w.arenaLen)
	le.PutUint64(b[64:], w.epoch)
	le.PutUint64(b[72:], w.generation)
	le.PutUint32(b[80:], uint32(len(text)))
	return append(b, text...)
}

func decodeWelcome(b []byte) (*welcome, error) {
	le := binary.LittleEndian
	if len(b) < welcomeFixed || le.Uint64(b) != welcomeMagic || le.Uint32(b[8:]) != wireVersion {
		return nil, msg.Errorf("%w: welcome of %d bytes", ErrProtocol, len(b))
	}
	w := &welcome{status: le.Uint32(b[12:]), index: le.Uint32(b[16:]), depth: le.Uint32(b[20:]),
		stride:  le.Uint32(b[24:]),
		slotOff: le.Uint64(b[32:]), step: le.Uint64(b[40:]),
		bellOff: le.Uint64(b[48:]), arenaLen: le.Uint64(b[56:]),
		epoch: le.Uint64(b[64:]), generation: le.Uint64(b[72:])}
	if n := uint64(le.Uint32(b[80:])); n > maxMessage || uint64(len(b)) != welcomeFixed+n {
		return nil, msg.Errorf("%w: welcome message length %d in %d bytes", ErrProtocol, n, len(b))
	}
	w.message = string(b[welcomeFixed:])
	return w, nil
}
