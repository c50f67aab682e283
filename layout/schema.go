package layout

import (
	"errors"
	"hash/fnv"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"unsafe"

	"github.com/spinwire/spinwire/internal/msg"
)

// MaxAlign is the largest alignment a fixed-layout type may require.
const MaxAlign = 64

// maxSchemaFields bounds a schema's field list, so that describing and
// decoding a schema from a peer stays cheap.
const maxSchemaFields = 4096

// Field is one leaf of a fixed-layout type: a scalar, or an array of
// scalars, at a byte offset from the start of the type. An array of structs
// or arrays is one Field of Kind "struct" or "array" followed by the leaves of
// its first element, with "[]" in their paths.
type Field struct {
	Path   string // dotted path from the root, e.g. "Quote.Bid" or "Levels[].Px"
	Offset uintptr
	Size   uintptr // bytes of the whole leaf (an array: all of it)
	Kind   string  // reflect kind of the scalar ("int64", "float64", …)
	Len    int     // array length; 0 for a scalar
}

func (f Field) String() string {
	if f.Len > 0 {
		return msg.Sprintf("%s @%d [%d]%s (%d B)", f.Path, f.Offset, f.Len, f.Kind, f.Size)
	}
	return msg.Sprintf("%s @%d %s (%d B)", f.Path, f.Offset, f.Kind, f.Size)
}

// Schema describes a fixed-layout type. Two processes exchange a type only
// when their schemas' Fingerprints are equal.
type Schema struct {
	Name        string // Go type name, for messages; not part of the fingerprint
	Size        uintptr
	Align       uintptr
	Fingerprint uint64 // FNV-1a over size, alignment and every field
	Fields      []Field
}

type schemaResult struct {
	s   *Schema
	err error
}

var schemaCache sync.Map // reflect.Type → schemaResult

// Of validates, once per type, that T is fixed-layout and returns its
// Schema. A fixed-layout type holds no pointers at any depth (no pointers,
// strings, slices, maps, interfaces, funcs, channels, unsafe.Pointer or
// uintptr); uses sized integers (int64, not int) and no bool (a peer can
// store 2 in a byte Go would read as bool); has explicit padding (every byte
// belongs to a field — declare gaps as `_ [N]byte`); has a size that is a
// non-zero multiple of 8 and an alignment of at most MaxAlign. The error
// wraps ErrNotFixedLayout, names the offending field and says what to
// declare instead: [N]byte for a string, [N]T for a []T, an offset into the
// region for a pointer, a sized integer for int.
//
// Cost: reflection on the first call for T; a sync.Map lookup after.
func Of[T any]() (*Schema, error) {
	return SchemaOf(reflect.TypeFor[T]())
}

// MustOf is Of for package-level variables and tests: it panics when T is
// not fixed-layout, which is a programmer error.
func MustOf[T any]() *Schema {
	s, err := Of[T]()
	if err != nil {
		panic(err)
	}
	return s
}

// SchemaOf is Of for a reflect.Type.
func SchemaOf(t reflect.Type) (*Schema, error) {
	if t == nil {
		return nil, msg.Errorf("%w: nil type", ErrNotFixedLayout)
	}
	if r, ok := schemaCache.Load(t); ok {
		res := r.(schemaResult)
		return res.s, res.err
	}
	s, err := buildSchema(t)
	schemaCache.Store(t, schemaResult{s, err})
	return s, err
}

func buildSchema(t reflect.Type) (*Schema, error) {
	s := &Schema{Name: t.String(), Size: t.Size(), Align: uintptr(t.Align())}
	if s.Size == 0 || s.Size%8 != 0 {
		return nil, msg.Errorf("%w: %s is %d bytes, want a non-zero multiple of 8 (add explicit `_ [N]byte` padding)", ErrNotFixedLayout, t, s.Size)
	}
	if s.Align > MaxAlign {
		return nil, msg.Errorf("%w: %s aligns to %d, more than %d", ErrNotFixedLayout, t, s.Align, MaxAlign)
	}
	if err := walk(t, "", 0, &s.Fields); err != nil {
		return nil, msg.Errorf("%w: %s: %v", ErrNotFixedLayout, t, err)
	}
	s.Fingerprint = fingerprint(s)
	return s, nil
}

// walk appends t's leaves at base to out. path names t for messages.
func walk(t reflect.Type, path string, base uintptr, out *[]Field) error {
	if len(*out) >= maxSchemaFields {
		return msg.Errorf("more than %d fields", maxSchemaFields)
	}
	name := path
	if name == "" {
		name = "(root)"
	}
	switch k := t.Kind(); k {
	case reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64, reflect.Complex64, reflect.Complex128:
		*out = append(*out, Field{Path: path, Offset: base, Size: t.Size(), Kind: k.String()})
		return nil
	case reflect.Array:
		e := t.Elem()
		if e.Kind() == reflect.Struct || e.Kind() == reflect.Array {
			// The array itself, then its first element's leaves.
			*out = append(*out, Field{Path: path, Offset: base, Size: t.Size(), Kind: e.Kind().String(), Len: t.Len()})
			if t.Len() == 0 {
				return nil
			}
			return walk(e, path+"[]", base, out)
		}
		var leaf []Field
		if err := walk(e, path, base, &leaf); err != nil {
			return err
		}
		*out = append(*out, Field{Path: path, Offset: base, Size: t.Size(), Kind: leaf[0].Kind, Len: t.Len()})
		return nil
	case reflect.Struct:
		end := uintptr(0)
		for f := range t.Fields() {
			fp := f.Name
			if path != "" {
				fp = path + "." + f.Name
			}
			if f.Offset != end {
				return msg.Errorf("implicit padding of %d bytes before field %s at offset %d (declare it as `_ [%d]byte`)", f.Offset-end, fp, base+f.Offset, f.Offset-end)
			}
			if err := walk(f.Type, fp, base+f.Offset, out); err != nil {
				return err
			}
			end = f.Offset + f.Type.Size()
		}
		if end != t.Size() {
			return msg.Errorf("implicit padding of %d bytes at the end of %s (declare it as `_ [%d]byte`)", t.Size()-end, name, t.Size()-end)
		}
		return nil
	case reflect.Bool:
		return msg.Errorf("field %s is bool: a peer can store a byte other than 0 or 1; use uint8", name)
	case reflect.Int, reflect.Uint:
		return msg.Errorf("field %s is %s: use a sized integer (%s64)", name, k, k)
	default:
		return msg.Errorf("field %s is %s, %s", name, t, remedy(t))
	}
}

// remedy says why a field of type t cannot live in shared memory and what
// to declare instead.
func remedy(t reflect.Type) string {
	const ptr = "which holds a pointer, meaningless in another process: "
	switch t.Kind() {
	case reflect.String:
		return ptr + "use a fixed-size [N]byte array (and a length field if the text is shorter)"
	case reflect.Slice:
		return ptr + "use a fixed-size array [N]" + t.Elem().String() + " (and a count field)"
	case reflect.Map:
		return ptr + "use a fixed-size array of key and value structs (and a count field)"
	case reflect.Pointer, reflect.UnsafePointer:
		return ptr + "use an offset (uint32/uint64) into the region"
	case reflect.Uintptr:
		return "an address, meaningless in another process: use an offset (uint32/uint64) into the region"
	case reflect.Interface:
		return ptr + "use a concrete fixed-layout type (a type tag and a [N]byte payload for several)"
	case reflect.Func, reflect.Chan:
		return "which cannot be shared between processes: keep it out of the shared type"
	}
	return "which has no fixed layout"
}

func fingerprint(s *Schema) uint64 {
	// The text hashed is a wire contract (peers compare the sums): it is
	// what fmt.Fprintf(h, "%d/%d", …) and "|%s@%d:%s*%d=%d" per field wrote.
	b := msg.Appendf(nil, "%d/%d", s.Size, s.Align)
	for _, f := range s.Fields {
		b = msg.Appendf(b, "|%s@%d:%s*%d=%d", f.Path, f.Offset, f.Kind, f.Len, f.Size)
	}
	h := fnv.New64a()
	h.Write(b)
	return h.Sum64()
}

// Encode returns a compact text description of s that DecodeSchema reads
// back, so a peer can say which field differs, not just that fingerprints
// do.
func (s *Schema) Encode() []byte {
	b := msg.Appendf(nil, "spinwire-schema 1 %d %d %q\n", s.Size, s.Align, s.Name)
	for _, f := range s.Fields {
		b = msg.Appendf(b, "%q %d %d %s %d\n", f.Path, f.Offset, f.Size, f.Kind, f.Len)
	}
	return b
}

// DecodeSchema parses what Encode wrote — bytes from a peer, so untrusted:
// malformed input returns an error wrapping ErrBadSchema. The fingerprint is
// recomputed, not trusted.
func DecodeSchema(b []byte) (*Schema, error) {
	const maxLen = 1 << 20
	if len(b) > maxLen {
		return nil, msg.Errorf("%w: %d bytes", ErrBadSchema, len(b))
	}
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	if len(lines) == 0 || len(lines) > maxSchemaFields+1 {
		return nil, msg.Errorf("%w: %d lines", ErrBadSchema, len(lines))
	}
	s := &Schema{}
	var magic, version string
	if err := scanLine(lines[0], &magic, &version, &s.Size, &s.Align, quoted{&s.Name}); err != nil || magic != "spinwire-schema" || version != "1" {
		if err == nil {
			err = errors.New("not a spinwire-schema 1 header")
		}
		return nil, msg.Errorf("%w: header %q: %v", ErrBadSchema, lines[0], err)
	}
	for i, ln := range lines[1:] {
		var f Field
		if err := scanLine(ln, quoted{&f.Path}, &f.Offset, &f.Size, &f.Kind, &f.Len); err != nil {
			return nil, msg.Errorf("%w: field line %d %q: %v", ErrBadSchema, i+1, ln, err)
		}
		s.Fields = append(s.Fields, f)
	}
	s.Fingerprint = fingerprint(s)
	return s, nil
}

// quoted is a scanLine destination for a Go-quoted string (what %q writes).
type quoted struct{ s *string }

// scanLine reads one space-separated token per destination from line:
// *string takes a word, *uintptr and *int a decimal number, quoted a Go
// string literal (which may hold spaces). Tokens are separated by one or
// more spaces; nothing may follow the last.
func scanLine(line string, dst ...any) error {
	rest := line
	for i, d := range dst {
		rest = strings.TrimLeft(rest, " ")
		if rest == "" {
			return msg.Errorf("%d of %d values", i, len(dst))
		}
		var tok string
		if q, ok := d.(quoted); ok {
			lit, err := strconv.QuotedPrefix(rest)
			if err != nil {
				return msg.Errorf("value %d: not a quoted string", i+1)
			}
			if *q.s, err = strconv.Unquote(lit); err != nil {
				return msg.Errorf("value %d: %v", i+1, err)
			}
			rest = rest[len(lit):]
		} else {
			tok, rest, _ = strings.Cut(rest, " ")
			rest = " " + rest
			switch d := d.(type) {
			case *string:
				*d = tok
			case *uintptr:
				n, err := strconv.ParseUint(tok, 10, 64)
				if err != nil || uint64(uintptr(n)) != n {
					return msg.Errorf("value %d: %q is not a size", i+1, tok)
				}
				*d = uintptr(n)
			case *int:
				n, err := strconv.Atoi(tok)
				if err != nil {
					return msg.Errorf("value %d: %q is not a number", i+1, tok)
				}
				*d = n
			}
		}
		if rest != "" && rest[0] != ' ' {
			return msg.Errorf("value %d: no space after it", i+1)
		}
	}
	if strings.TrimLeft(rest, " ") != "" {
		return errors.New("text after the last value")
	}
	return nil
}

// At returns a *T over b[off:], after checking that T is fixed-layout, that
// off is within b with room for T, and that the address is aligned for T.
// Errors wrap ErrNotFixedLayout, ErrOutOfBounds or ErrMisaligned and name the
// values. Cost: one cached schema lookup; call it at setup, not per message.
//
// Safety: the pointer aliases b; it is valid while b is (for a Segment,
// until Close). Another process may write *T at any time: read fields that
// it writes with sync/atomic, and bounds-check every value before use.
func At[T any](b []byte, off int) (*T, error) {
	s, err := Of[T]()
	if err != nil {
		return nil, err
	}
	if off < 0 || off > len(b) || uintptr(len(b)-off) < s.Size {
		return nil, msg.Errorf("%w: %s (%d bytes) at offset %d of a %d-byte region", ErrOutOfBounds, s.Name, s.Size, off, len(b))
	}
	p := unsafe.Pointer(unsafe.SliceData(b[off:]))
	if uintptr(p)%s.Align != 0 {
		return nil, msg.Errorf("%w: %s needs %d-byte alignment, offset %d is at address %#x", ErrMisaligned, s.Name, s.Align, off, uintptr(p))
	}
	return (*T)(p), nil
}
