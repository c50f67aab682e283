package layout

import "strconv"

// MismatchError reports two fixed layouts that differ: which field, and how
// each side has it. errors.Is(err, ErrLayoutMismatch) holds; take the parts
// with errors.As.
//
// Ours is always this process's side and Theirs the peer's, whichever of
// the two created the shared memory: the text says "here" for Ours and "at
// the peer" for Theirs.
type MismatchError struct {
	What   string // what was compared, e.g. "ring Tick", "link request Order"; may be ""
	Field  string // path of the first field that differs ("" when only sizes or fingerprints are known)
	Ours   string // this process's side: "int32 at 8 (4 B)", "absent", or "fingerprint 0x…"
	Theirs string // the peer's side, in the same form
}

// Error returns, for example,
//
//	layout: layout mismatch: ring Tick: field Qty: int32 at 16 (4 B) here, uint32 at 16 (4 B) at the peer
//
// leaving out "What: " and "field Field: " when they are empty.
func (e *MismatchError) Error() string {
	s := ErrLayoutMismatch.Error() + ": "
	if e.What != "" {
		s += e.What + ": "
	}
	if e.Field != "" {
		s += "field " + e.Field + ": "
	}
	return s + e.Ours + " here, " + e.Theirs + " at the peer"
}

// Is reports whether target is ErrLayoutMismatch.
func (e *MismatchError) Is(target error) bool { return target == ErrLayoutMismatch }

// FingerprintMismatch returns the error for two layouts known only by
// their fingerprints: ours is this process's, theirs the peer's.
func FingerprintMismatch(what string, ours, theirs uint64) *MismatchError {
	return &MismatchError{What: what, Ours: "fingerprint " + hex16(ours), Theirs: "fingerprint " + hex16(theirs)}
}

// Diff returns nil when s and peer describe the same layout, and otherwise a
// *MismatchError naming the first field that differs.
//
// ORDER MATTERS: the receiver s is OURS (this process's type, "here") and
// the argument peer is THEIRS (the other process's, "at the peer"). A
// server comparing a client's schema calls ours.Diff(clientSchema), not
// the other way round.
//
// What is s.Name; a caller that knows more (a ring, a link request) sets it
// on the error it gets through errors.As. A field present on one side only
// is "absent" on the other; when the fields agree but the sizes or
// alignments do not, Field is "" and each side gives its size, alignment
// and fingerprint. Cost: a walk over the fields, one search by path at the
// first difference; for set-up, not for hot paths.
func (s *Schema) Diff(peer *Schema) error {
	if s.Fingerprint == peer.Fingerprint && s.Size == peer.Size {
		return nil
	}
	e := &MismatchError{What: s.Name}
	n := min(len(s.Fields), len(peer.Fields))
	for i := range n {
		if a, b := s.Fields[i], peer.Fields[i]; a != b && e.pick(a, b, s, peer) {
			return e
		}
	}
	switch {
	case len(s.Fields) > n:
		f := s.Fields[n]
		e.Field, e.Ours, e.Theirs = f.Path, describe(f), "absent"
	case len(peer.Fields) > n:
		f := peer.Fields[n]
		e.Field, e.Ours, e.Theirs = f.Path, "absent", describe(f)
	default:
		e.Ours, e.Theirs = describeType(s), describeType(peer)
	}
	return e
}

// pick fills e for a, ours, and b, theirs, the first pair of fields that
// differ, and reports whether it found a field to name. Fields are matched
// by path: ours is named first (with its counterpart at the peer, or
// "absent"), then theirs; a pair both of whose fields sit unchanged
// elsewhere on the other side names nothing.
func (e *MismatchError) pick(a, b Field, ours, theirs *Schema) bool {
	if a.Path == b.Path {
		e.Field, e.Ours, e.Theirs = a.Path, describe(a), describe(b)
		return true
	}
	if t, ok := theirs.field(a.Path); !ok || t != a {
		e.Field, e.Ours, e.Theirs = a.Path, describe(a), describeOr(t, ok)
		return true
	}
	if o, ok := ours.field(b.Path); !ok || o != b {
		e.Field, e.Ours, e.Theirs = b.Path, describeOr(o, ok), describe(b)
		return true
	}
	return false
}

// field returns the field of s at path.
func (s *Schema) field(path string) (Field, bool) {
	for _, f := range s.Fields {
		if f.Path == path {
			return f, true
		}
	}
	return Field{}, false
}

// describe gives a field's type, offset and size: "int32 at 16 (4 B)",
// "[4]int64 at 8 (32 B)".
func describe(f Field) string {
	t := f.Kind
	if f.Len > 0 {
		t = "[" + strconv.Itoa(f.Len) + "]" + t
	}
	return t + " at " + strconv.FormatUint(uint64(f.Offset), 10) + " (" + strconv.FormatUint(uint64(f.Size), 10) + " B)"
}

func describeOr(f Field, ok bool) string {
	if !ok {
		return "absent"
	}
	return describe(f)
}

// describeType gives a schema's size, alignment and fingerprint.
func describeType(s *Schema) string {
	return strconv.FormatUint(uint64(s.Size), 10) + " B aligned " + strconv.FormatUint(uint64(s.Align), 10) +
		" (fingerprint " + hex16(s.Fingerprint) + ")"
}

// hex16 formats v as 0x and 16 hex digits.
func hex16(v uint64) string {
	var b [18]byte
	b[0], b[1] = '0', 'x'
	const digits = "0123456789abcdef"
	for i := 17; i >= 2; i-- {
		b[i] = digits[v&15]
		v >>= 4
	}
	return string(b[:])
}
