package spin

import (
	"encoding/binary"
	"sync"

	"github.com/spinwire/spinwire/layout"
)

// The creator of a ring stores T's schema text (layout.Schema.Encode) after
// the slots, so that an opener whose T differs can name the field, not just
// two fingerprints. Block 0 says where the text is (RingSchemaStartOffset)
// and how long (RingSchemaLengthOffset); the space it takes is part of
// RingLength, rounded up to a cache line so that a region placed after the
// ring stays aligned. A text longer than maxRingSchema is not stored
// (length 0): a mismatch then shows the two fingerprints.
const maxRingSchema = 16 << 10 // bytes

var schemaTexts sync.Map // *layout.Schema → []byte, its Encode

// schemaText returns s.Encode(), or nil when it is longer than
// maxRingSchema. Cost: one Encode per type, a sync.Map lookup after.
func schemaText(s *layout.Schema) []byte {
	if b, ok := schemaTexts.Load(s); ok {
		return b.([]byte)
	}
	b := s.Encode()
	if len(b) > maxRingSchema {
		b = nil
	}
	schemaTexts.Store(s, b)
	return b
}

// schemaSpace returns the bytes a ring of s keeps for its schema text.
func schemaSpace(s *layout.Schema) int {
	return (len(schemaText(s)) + slotAlign - 1) &^ (slotAlign - 1)
}

// writeSchema stores s's schema text at start in region (which has room:
// RingLength counted it) and records where in block 0.
func writeSchema(region []byte, s *layout.Schema, start int) {
	text := schemaText(s)
	copy(region[start:], text)
	le := binary.LittleEndian
	le.PutUint64(region[RingSchemaStartOffset:], uint64(start))
	le.PutUint32(region[RingSchemaLengthOffset:], uint32(len(text)))
}

// mismatch returns the error for a ring whose fingerprint fp is not ours
// (s's): a *layout.MismatchError naming the first field that differs when
// the creator's schema text is there and readable, else the two
// fingerprints. kind names the ring for the message ("ring", "MPSC ring").
//
// Everything it reads was written by the other process: the text's start
// and length are bounds-checked against region, and the text is copied
// before it is parsed, so a creator changing it meanwhile cannot make the
// parser see two versions. It never panics.
func mismatch(region []byte, s *layout.Schema, fp uint64, kind string) error {
	what := kind + " " + s.Name
	peer, ok := peerSchema(region)
	if ok {
		// Diff returns the *MismatchError itself (errors.As would link
		// reflection into every program that opens a ring).
		if m, ok := s.Diff(peer).(*layout.MismatchError); ok {
			m.What = what
			return m
		}
	}
	return layout.FingerprintMismatch(what, s.Fingerprint, fp)
}

// peerSchema reads and decodes the schema text the creator of region
// stored, reporting false when there is none or it is malformed.
func peerSchema(region []byte) (*layout.Schema, bool) {
	le := binary.LittleEndian
	start := le.Uint64(region[RingSchemaStartOffset:])
	n := uint64(le.Uint32(region[RingSchemaLengthOffset:]))
	if n == 0 || n > maxRingSchema || start < RingHeaderLength || start > uint64(len(region)) || n > uint64(len(region))-start {
		return nil, false
	}
	text := make([]byte, n)
	copy(text, region[start:start+n])
	peer, err := layout.DecodeSchema(text)
	return peer, err == nil
}
