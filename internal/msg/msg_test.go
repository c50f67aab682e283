//go:build !msgfmt

package msg

import (
	"errors"
	"fmt"
	"io/fs"
	"testing"
	"time"
)

type named int
type namedU uint16
type namedS string
type stringer int

func (s stringer) String() string { return "str" }

type point struct{ X int }

// TestMatchesFmt checks Sprintf against fmt.Sprintf for every verb, flag and
// value kind the package comment promises.
func TestMatchesFmt(t *testing.T) {
	err := errors.New("boom")
	cases := []struct {
		format string
		args   []any
	}{
		{"plain", nil},
		{"100%%", nil},
		{"%d %d %d %d %d", []any{0, -1, int8(-128), int64(-1 << 63), uint64(1<<64 - 1)}},
		{"%v %v %v %v", []any{int16(7), int32(-9), uint8(255), uintptr(0x1000)}},
		{"%x %X %#x %#X %#016x %08x", []any{255, 255, 255, 255, uint64(0xabc), 0x1f}},
		{"%#x %x", []any{-255, -1}},
		{"%o %#o %#o", []any{8, 8, 0}},
		{"%5d|%-5d|%05d|%+d|% d|%+05d", []any{42, 42, -42, 42, 42, 42}},
		{"%s %v %q %10s|%-6q|", []any{"a b", "c", "d\"e\n", "pad", "x"}},
		{"%#q %+q %q", []any{"back", "ünï", "ünï"}},
		{"%x %X %#x % x", []any{"hi", []byte{1, 0xab}, "hi", "ab"}},
		{"%s %q %v %d", []any{[]byte("by"), []byte("q"), []byte{1, 2}, []byte{3}}},
		{"%v %t", []any{true, false}},
		{"%v %s %q", []any{err, err, err}},
		{"%v %s %d", []any{stringer(1), stringer(2), stringer(3)}},
		{"%v %s", []any{time.Duration(1500) * time.Microsecond, 2 * time.Second}},
		{"%v %d %x %s %q", []any{named(-3), named(4), namedU(255), namedS("ns"), namedS("q")}},
		{"%v %s", []any{nil, nil}},
		{"%d", []any{"str"}},
		{"%s", []any{5}},
		{"%z", []any{1}},
		{"%d %d", []any{1}},
		{"%d", []any{1, "extra", 2}},
		{"%v", []any{point{1}}},
		{"%d", []any{nil}},
		{"%q", []any{65}},
		{"end %", nil},
		{"%t", []any{named(1)}},
		{"%x", []any{true}},
	}
	for _, c := range cases {
		want := fmt.Sprintf(c.format, c.args...)
		if c.format == "%v" && len(c.args) == 1 {
			if _, ok := c.args[0].(point); ok {
				want = "%!v(msg.point=?)" // unsupported: fmt would print {1}
			}
		}
		if got := Sprintf(c.format, c.args...); got != want {
			t.Errorf("Sprintf(%q, %v) = %q, fmt gives %q", c.format, c.args, got, want)
		}
		if got := string(Appendf([]byte("pre:"), c.format, c.args...)); got != "pre:"+want {
			t.Errorf("Appendf(%q) = %q", c.format, got)
		}
	}
}

func TestErrorfWraps(t *testing.T) {
	base := errors.New("base")
	e := Errorf("%w: capacity=%d", base, 7)
	if e.Error() != fmt.Errorf("%w: capacity=%d", base, 7).Error() || !errors.Is(e, base) || errors.Unwrap(e) != base {
		t.Fatalf("one %%w: %v", e)
	}
	e = Errorf("%w: %s: %w", base, "path", fs.ErrNotExist)
	if !errors.Is(e, base) || !errors.Is(e, fs.ErrNotExist) || e.Error() != "base: path: file does not exist" {
		t.Fatalf("two %%w: %v", e)
	}
	e = Errorf("no wrap %d", 1)
	if errors.Unwrap(e) != nil || e.Error() != "no wrap 1" {
		t.Fatalf("plain: %v", e)
	}
	w := "%w" // not a constant: vet would refuse the bad calls below
	if got, want := Errorf(w, "notanerror").Error(), fmt.Errorf(w, "notanerror").Error(); got != want {
		t.Fatalf("bad %%w: %q, fmt %q", got, want)
	}
	if got, want := Errorf(w, nil).Error(), fmt.Errorf(w, nil).Error(); got != want {
		t.Fatalf("nil %%w: %q, fmt %q", got, want)
	}
	// fmt prints the bad operand's struct; msg, without its printer, a "?".
	if got := Sprintf(w, base); got != "%!w(*errors.errorString=?)" {
		t.Fatalf("Sprintf %%w: %q, fmt %q", got, fmt.Sprintf(w, base))
	}
}

func BenchmarkErrorf(b *testing.B) {
	base := errors.New("base")
	b.ReportAllocs()
	for b.Loop() {
		_ = Errorf("%w: capacity=%d (want 1…%d)", base, 3, 1<<20)
	}
}
