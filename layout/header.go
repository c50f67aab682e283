package layout

import (
	"encoding/binary"
	"sync/atomic"
	"unsafe"

	"github.com/spinwire/spinwire/internal/msg"
)

// Segment header: the first HeaderLength bytes of every segment. Written once
// by the creator before the segment is shared; read and validated by every
// process that opens it.
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+---------------------------------------------------------------+
//	|                   Magic "SPINWIRE" (uint64 LE)                |  0
//	|                                                               |
//	+-------------------------------+-------------------------------+
//	|            Version            |         Header Length         |  8
//	+-------------------------------+-------------------------------+
//	|                   Total Length (bytes, uint64)                | 16
//	|                                                               |
//	+---------------------------------------------------------------+
//	|                 Layout Fingerprint (uint64)                   | 24
//	|                                                               |
//	+-------------------------------+-------------------------------+
//	|          Creator PID          |             Flags             | 32
//	+-------------------------------+-------------------------------+
//	|                        Epoch (uint64)                         | 40
//	|                                                               |
//	+---------------------------------------------------------------+
//	|                  Reserved, zero, up to 128 bytes              | 48
//	...                                                           ...
//	+---------------------------------------------------------------+
//	|              Body: regions laid out by the user               | 128
//	...                                                           ...
//
// The header fills one 128-byte block (two cache lines, the unit the
// adjacent-line prefetcher moves), so the first region of the body never
// shares a block with it. Magic is stored last, with a release store, so a
// process that opens a segment while it is being created sees either no
// magic (OpenFd waits, then returns ErrNotReady) or a complete header.
const (
	MagicOffset       = 0                     // uint64: HeaderMagic
	VersionOffset     = MagicOffset + 8       // uint32: HeaderVersion
	HeaderLenOffset   = VersionOffset + 4     // uint32: HeaderLength
	TotalLengthOffset = HeaderLenOffset + 4   // uint64: bytes in the segment, header included
	FingerprintOffset = TotalLengthOffset + 8 // uint64: Schema.Fingerprint of the body's layout
	CreatorPIDOffset  = FingerprintOffset + 8 // uint32: pid of the creating process
	FlagsOffset       = CreatorPIDOffset + 4  // uint32: reserved flags, zero
	EpochOffset       = FlagsOffset + 4       // uint64: creator's incarnation, changes on every Create
	reservedOffset    = EpochOffset + 8       // zero up to HeaderLength
	HeaderLength      = 128                   // bytes; the body starts here
	HeaderMagic       = 0x45524957_4e495053   // "SPINWIRE" read as a little-endian uint64
	HeaderVersion     = 1                     // bumped on any incompatible header change
	MaxLength         = 1 << 40               // bytes; upper bound on a segment (1 TiB)
	magicString       = "SPINWIRE"            // for error messages
)

// header mirrors the descriptor above; the asserts below fail to compile
// when the struct and the constants disagree.
type header struct {
	magic       uint64
	version     uint32
	headerLen   uint32
	totalLength uint64
	fingerprint uint64
	creatorPID  uint32
	flags       uint32
	epoch       uint64
	_           [HeaderLength - reservedOffset]byte
}

var h0 header

var (
	_ = [1]struct{}{}[unsafe.Offsetof(h0.magic)-MagicOffset]
	_ = [1]struct{}{}[unsafe.Offsetof(h0.version)-VersionOffset]
	_ = [1]struct{}{}[unsafe.Offsetof(h0.headerLen)-HeaderLenOffset]
	_ = [1]struct{}{}[unsafe.Offsetof(h0.totalLength)-TotalLengthOffset]
	_ = [1]struct{}{}[unsafe.Offsetof(h0.fingerprint)-FingerprintOffset]
	_ = [1]struct{}{}[unsafe.Offsetof(h0.creatorPID)-CreatorPIDOffset]
	_ = [1]struct{}{}[unsafe.Offsetof(h0.flags)-FlagsOffset]
	_ = [1]struct{}{}[unsafe.Offsetof(h0.epoch)-EpochOffset]
	_ = [1]struct{}{}[unsafe.Sizeof(h0)-HeaderLength]
)

// Header is a validated copy of a segment header.
type Header struct {
	Version     uint32 // HeaderVersion
	TotalLength uint64 // bytes in the segment, header included
	Fingerprint uint64 // layout fingerprint of the body
	CreatorPID  uint32 // pid of the process that created the segment
	Epoch       uint64 // creator incarnation
}

// CheckHeader validates the header at the start of b, a segment whose file
// is fileLength bytes long, and returns a copy of it. fingerprint is the
// layout fingerprint the caller expects; 0 accepts any. Every field is
// treated as hostile: the error wraps ErrTooShort, ErrBadMagic, ErrVersion
// or ErrBadLength with the value seen, or is a *MismatchError (fingerprint
// as the caller's, the segment's as the peer's). Cost: a few loads;
// it never panics.
func CheckHeader(b []byte, fileLength int64, fingerprint uint64) (Header, error) {
	if len(b) < HeaderLength {
		return Header{}, msg.Errorf("%w: %d bytes, header needs %d", ErrTooShort, len(b), HeaderLength)
	}
	h, err := checkHeader(b, fileLength, fingerprint)
	if err == nil && h.TotalLength > uint64(len(b)) {
		return Header{}, msg.Errorf("%w: header says %d bytes, %d mapped", ErrTooShort, h.TotalLength, len(b))
	}
	return h, err
}

// checkHeader is CheckHeader for the header alone (len(b) ≥ HeaderLength),
// as read from the file before the segment is mapped.
func checkHeader(b []byte, fileLength int64, fingerprint uint64) (Header, error) {
	// SYNC: acquire of the magic; pairs with the release store in writeHeader,
	// so the other fields are complete once the magic is seen.
	magic := atomic.LoadUint64((*uint64)(unsafe.Pointer(&b[MagicOffset])))
	if magic != HeaderMagic {
		var raw [8]byte
		binary.LittleEndian.PutUint64(raw[:], magic)
		return Header{}, msg.Errorf("%w: %q (want %q)", ErrBadMagic, raw[:], magicString)
	}
	le := binary.LittleEndian
	h := Header{
		Version:     le.Uint32(b[VersionOffset:]),
		TotalLength: le.Uint64(b[TotalLengthOffset:]),
		Fingerprint: le.Uint64(b[FingerprintOffset:]),
		CreatorPID:  le.Uint32(b[CreatorPIDOffset:]),
		Epoch:       le.Uint64(b[EpochOffset:]),
	}
	if h.Version != HeaderVersion {
		return Header{}, msg.Errorf("%w: version %d (this build speaks %d)", ErrVersion, h.Version, HeaderVersion)
	}
	if hl := le.Uint32(b[HeaderLenOffset:]); hl != HeaderLength {
		return Header{}, msg.Errorf("%w: header length %d (want %d)", ErrBadLength, hl, HeaderLength)
	}
	if h.TotalLength <= HeaderLength || h.TotalLength > MaxLength {
		return Header{}, msg.Errorf("%w: total length %d outside (%d, %d]", ErrBadLength, h.TotalLength, HeaderLength, uint64(MaxLength))
	}
	if fileLength >= 0 && h.TotalLength != uint64(fileLength) {
		return Header{}, msg.Errorf("%w: header says %d bytes, file has %d", ErrBadLength, h.TotalLength, fileLength)
	}
	if fingerprint != 0 && h.Fingerprint != fingerprint {
		return Header{}, FingerprintMismatch("segment", fingerprint, h.Fingerprint)
	}
	return h, nil
}

// writeHeader formats the header at the start of b (len(b) ≥ HeaderLength).
// The magic goes last, with a release store.
func writeHeader(b []byte, h Header) {
	le := binary.LittleEndian
	clear(b[:HeaderLength])
	le.PutUint32(b[VersionOffset:], h.Version)
	le.PutUint32(b[HeaderLenOffset:], HeaderLength)
	le.PutUint64(b[TotalLengthOffset:], h.TotalLength)
	le.PutUint64(b[FingerprintOffset:], h.Fingerprint)
	le.PutUint32(b[CreatorPIDOffset:], h.CreatorPID)
	le.PutUint64(b[EpochOffset:], h.Epoch)
	// SYNC: release of the complete header; pairs with the acquire in CheckHeader.
	atomic.StoreUint64((*uint64)(unsafe.Pointer(&b[MagicOffset])), HeaderMagic)
}
