package topic

import (
	"unsafe"

	"github.com/spinwire/spinwire/internal/msg"
	"github.com/spinwire/spinwire/layout"
)

// checkView checks a topic segment's header, as hostile input, against
// the subscriber's message schema and returns the view of it.
func checkView(m []byte, sc *layout.Schema) (view, error) {
	if len(m) < slotsOffset {
		return view{}, msg.Errorf("%w: %d bytes", ErrCorrupt, len(m))
	}
	switch v := load(m, offMagic); {
	case v == 0:
		return view{}, msg.Errorf("%w: its publisher is still setting it up", ErrNoPublisher)
	case v != topicMagic:
		return view{}, msg.Errorf("%w: magic %#x", ErrCorrupt, v)
	}
	if v := load32(m, offVersion); v != topicVersion {
		return view{}, msg.Errorf("%w: version %d (this build reads %d)", ErrCorrupt, v, topicVersion)
	}
	capacity, st, size := load(m, offCapacity), uint64(load32(m, offStride)), uint64(load32(m, offMsgSize))
	history, soff, slen := load(m, offHistory), load(m, offSchemaOff), uint64(load32(m, offSchemaLen))
	switch {
	case capacity < 2 || capacity > 1<<24 || capacity&(capacity-1) != 0:
		return view{}, msg.Errorf("%w: capacity %d", ErrCorrupt, capacity)
	case st != uint64(stride(uintptr(size))) || size == 0 || st > 1<<20:
		return view{}, msg.Errorf("%w: stride %d for %d-byte messages", ErrCorrupt, st, size)
	case slotsOffset+capacity*st > uint64(len(m)) || soff < slotsOffset+capacity*st || !schemaFits(soff, slen, uint64(len(m))):
		return view{}, msg.Errorf("%w: %d slots of %d bytes and a schema of %d at %d in %d bytes", ErrCorrupt, capacity, st, slen, soff, len(m))
	case history > capacity:
		return view{}, msg.Errorf("%w: history %d beyond capacity %d", ErrCorrupt, history, capacity)
	}
	if fp := load(m, offFPrint); fp != sc.Fingerprint || size != uint64(sc.Size) {
		text, ok := schemaText(m)
		theirs, err := layout.DecodeSchema(text)
		if !ok || err != nil {
			return view{}, layout.FingerprintMismatch("topic message", sc.Fingerprint, fp)
		}
		return view{}, sc.Diff(theirs)
	}
	return view{slots: unsafe.Pointer(&m[slotsOffset]), mem: m, capacity: capacity, mask: capacity - 1,
		stride: uintptr(st), history: history, reliable: load32(m, offPolicy) == uint32(Reliable)}, nil
}

// schemaFits reports whether a schema text of slen bytes at soff (both
// read from a hostile header) lies within n bytes, and is at most 1 MiB.
func schemaFits(soff, slen, n uint64) bool {
	return soff <= n && slen <= n-soff && slen <= 1<<20
}

// schemaText copies out the schema text a topic header points at, if it
// fits: the offset and length are loaded once, and the copy, not the
// segment, is parsed, so a publisher rewriting either meanwhile cannot
// take the slice out of bounds or show the parser two versions.
func schemaText(m []byte) ([]byte, bool) {
	soff, slen := load(m, offSchemaOff), uint64(load32(m, offSchemaLen))
	if !schemaFits(soff, slen, uint64(len(m))) {
		return nil, false
	}
	return append([]byte(nil), m[soff:soff+slen]...), true
}
