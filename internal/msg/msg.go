package msg

import (
	"bytes"
	"reflect"
	"slices"
	"strconv"
	"unicode/utf8"
)

// printer builds one message.
type printer struct {
	buf     []byte
	wrap    bool // Errorf: %w is allowed and collected
	wrapped []error

	// The current verb's flags and width.
	sharp, zero, minus, plus, space bool
	width                           int
}

func (p *printer) printf(format string, args []any) {
	next := 0
	for i := 0; i < len(format); {
		c := format[i]
		if c != '%' {
			j := i + 1
			for j < len(format) && format[j] != '%' {
				j++
			}
			p.buf = append(p.buf, format[i:j]...)
			i = j
			continue
		}
		i = p.spec(format, i+1)
		if i == len(format) {
			p.buf = append(p.buf, "%!(NOVERB)"...)
			break
		}
		verb, size := utf8.DecodeRuneInString(format[i:])
		i += size
		if verb == '%' {
			p.buf = append(p.buf, '%')
			continue
		}
		if next >= len(args) {
			p.buf = append(p.buf, "%!"...)
			p.buf = utf8.AppendRune(p.buf, verb)
			p.buf = append(p.buf, "(MISSING)"...)
			continue
		}
		arg := args[next]
		next++
		if verb == 'w' {
			err, ok := arg.(error)
			if !p.wrap || !ok || err == nil {
				p.bad(verb, arg)
				continue
			}
			p.wrapped = append(p.wrapped, err)
			verb = 'v'
		}
		p.arg(verb, arg)
	}
	if next < len(args) {
		p.sharp, p.zero, p.minus, p.plus, p.space, p.width = false, false, false, false, false, 0
		p.buf = append(p.buf, "%!(EXTRA "...)
		for k, a := range args[next:] {
			if k > 0 {
				p.buf = append(p.buf, ", "...)
			}
			p.buf = append(p.buf, typeName(a)...)
			p.buf = append(p.buf, '=')
			p.arg('v', a)
		}
		p.buf = append(p.buf, ')')
	}
}

// spec reads the flags and width of the verb whose '%' precedes
// format[i] into p, and returns the index of the verb.
func (p *printer) spec(format string, i int) int {
	p.sharp, p.zero, p.minus, p.plus, p.space, p.width = false, false, false, false, false, 0
	for ; i < len(format); i++ {
		switch format[i] {
		case '#':
			p.sharp = true
		case '0':
			p.zero = true
		case '-':
			p.minus = true
		case '+':
			p.plus = true
		case ' ':
			p.space = true
		default:
			for ; i < len(format) && format[i] >= '0' && format[i] <= '9'; i++ {
				p.width = p.width*10 + int(format[i]-'0')
			}
			return i
		}
	}
	return i
}

// arg prints one operand, padded to the width.
func (p *printer) arg(verb rune, arg any) {
	start := len(p.buf)
	p.value(verb, arg)
	p.pad(start)
}

// pad pads what was printed since start to the width: on the left (right
// with -), with spaces or, for the 0 flag, zeros (numbers zero-pad their
// digits themselves, after the sign and prefix, as fmt does).
func (p *printer) pad(start int) {
	n := utf8.RuneCount(p.buf[start:])
	if n >= p.width {
		return
	}
	fill := p.width - n
	if p.minus {
		for range fill {
			p.buf = append(p.buf, ' ')
		}
		return
	}
	c := byte(' ')
	if p.zero {
		c = '0' // fmt pads text with zeros too
	}
	p.fill(start, fill, c)
}

// fill inserts n copies of c at p.buf[at].
func (p *printer) fill(at, n int, c byte) {
	p.buf = slices.Insert(p.buf, at, bytes.Repeat([]byte{c}, n)...)
}

func (p *printer) value(verb rune, arg any) {
	if verb == 'v' || verb == 's' || verb == 'q' || verb == 'x' || verb == 'X' {
		// fmt's methods: only for the verbs that print text.
		switch v := arg.(type) {
		case error:
			p.text(verb, v.Error(), arg)
			return
		case interface{ String() string }:
			p.text(verb, v.String(), arg)
			return
		}
	}
	switch v := arg.(type) {
	case nil:
		if verb == 'v' {
			p.buf = append(p.buf, "<nil>"...)
			return
		}
	case []byte:
		p.bytes(verb, v, arg)
		return
	default:
		if p.kind(verb, arg) {
			return
		}
	}
	p.bad(verb, arg)
}

// kind prints arg, of a basic kind, by its kind — an integer, a string or a
// bool, named or not, as fmt does for a type without methods — and reports
// whether it could.
func (p *printer) kind(verb rune, arg any) bool {
	v := reflect.ValueOf(arg)
	switch v.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		p.int(verb, v.Int(), arg)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		p.uint(verb, v.Uint(), false, arg)
	case reflect.String:
		p.text(verb, v.String(), arg)
	case reflect.Bool:
		if verb != 'v' && verb != 't' {
			return false
		}
		p.buf = strconv.AppendBool(p.buf, v.Bool())
	default:
		return false
	}
	return true
}

func (p *printer) text(verb rune, s string, arg any) {
	switch verb {
	case 'v', 's':
		p.buf = append(p.buf, s...)
	case 'q':
		if p.sharp && strconv.CanBackquote(s) {
			p.buf = append(p.buf, '`')
			p.buf = append(p.buf, s...)
			p.buf = append(p.buf, '`')
		} else if p.plus {
			p.buf = strconv.AppendQuoteToASCII(p.buf, s)
		} else {
			p.buf = strconv.AppendQuote(p.buf, s)
		}
	case 'x', 'X':
		p.hexBytes(verb, []byte(s))
	default:
		p.bad(verb, arg)
	}
}

func (p *printer) bytes(verb rune, b []byte, arg any) {
	switch verb {
	case 's':
		p.buf = append(p.buf, b...)
	case 'q':
		p.text('q', string(b), arg)
	case 'x', 'X':
		p.hexBytes(verb, b)
	case 'v', 'd':
		p.buf = append(p.buf, '[')
		for i, c := range b {
			if i > 0 {
				p.buf = append(p.buf, ' ')
			}
			p.buf = strconv.AppendUint(p.buf, uint64(c), 10)
		}
		p.buf = append(p.buf, ']')
	default:
		p.bad(verb, arg)
	}
}

func (p *printer) hexBytes(verb rune, b []byte) {
	digits := "0123456789abcdef"
	if verb == 'X' {
		digits = "0123456789ABCDEF"
	}
	for i, c := range b {
		if i > 0 && p.space {
			p.buf = append(p.buf, ' ')
		}
		if p.sharp && (i == 0 || p.space) {
			p.buf = append(p.buf, '0', byte(verb))
		}
		p.buf = append(p.buf, digits[c>>4], digits[c&15])
	}
}

func (p *printer) int(verb rune, v int64, arg any) {
	if v < 0 {
		u := uint64(-v)
		if v == -v { // the most negative int64
			u = uint64(v)
		}
		p.uint(verb, u, true, arg)
		return
	}
	p.uint(verb, uint64(v), false, arg)
}

func (p *printer) uint(verb rune, v uint64, negative bool, arg any) {
	base := 10
	switch verb {
	case 'v', 'd':
	case 'x', 'X':
		base = 16
	case 'o':
		base = 8
	case 'q':
		if !negative && v <= utf8.MaxRune {
			p.buf = strconv.AppendQuoteRune(p.buf, rune(v))
			return
		}
		p.bad(verb, arg)
		return
	default:
		p.bad(verb, arg)
		return
	}
	switch {
	case negative:
		p.buf = append(p.buf, '-')
	case p.plus:
		p.buf = append(p.buf, '+')
	case p.space:
		p.buf = append(p.buf, ' ')
	}
	if p.sharp {
		switch base {
		case 16:
			p.buf = append(p.buf, '0', byte(verb))
		case 8:
			if v != 0 {
				p.buf = append(p.buf, '0')
			}
		}
	}
	start := len(p.buf)
	p.buf = strconv.AppendUint(p.buf, v, base)
	if p.zero && !p.minus && p.width > 0 {
		// fmt pads the digits with zeros to the width, less a sign;
		// a 0x prefix comes on top.
		w := p.width
		if negative || p.plus || p.space {
			w--
		}
		if n := len(p.buf) - start; n < w {
			p.fill(start, w-n, '0')
		}
		p.width = 0 // done: arg's pad must not pad again
	}
	if verb == 'X' {
		for i := start; i < len(p.buf); i++ {
			if c := p.buf[i]; c >= 'a' && c <= 'f' {
				p.buf[i] = c - 'a' + 'A'
			}
		}
	}
}

// bad prints fmt's marker for a verb that does not fit its operand.
func (p *printer) bad(verb rune, arg any) {
	p.buf = append(p.buf, "%!"...)
	p.buf = utf8.AppendRune(p.buf, verb)
	p.buf = append(p.buf, '(')
	if arg == nil {
		p.buf = append(p.buf, "<nil>"...)
	} else {
		p.buf = append(p.buf, typeName(arg)...)
		p.buf = append(p.buf, '=')
		// The value itself, when it prints at all.
		p.sharp, p.zero, p.plus, p.space, p.width = false, false, false, false, 0
		p.valueOrType(arg)
	}
	p.buf = append(p.buf, ')')
}

// valueOrType prints arg with %v when it is of a basic kind (never through
// its methods: fmt does not call them here either), else "?".
func (p *printer) valueOrType(arg any) {
	if !p.kind('v', arg) {
		p.buf = append(p.buf, '?')
	}
}

func typeName(arg any) string {
	if arg == nil {
		return "<nil>"
	}
	return reflect.TypeOf(arg).String()
}
