//go:build !msgfmt

package msg

// Sprintf is fmt.Sprintf for the verbs and values in the package comment.
func Sprintf(format string, args ...any) string {
	var p printer
	p.printf(format, args)
	return string(p.buf)
}

// Appendf is fmt.Appendf: Sprintf appended to b.
func Appendf(b []byte, format string, args ...any) []byte {
	p := printer{buf: b}
	p.printf(format, args)
	return p.buf
}

// Errorf is fmt.Errorf for the verbs and values in the package comment:
// the message is Sprintf's, and the error unwraps to the %w operands.
func Errorf(format string, args ...any) error {
	var p printer
	p.wrap = true
	p.printf(format, args)
	s := string(p.buf)
	switch len(p.wrapped) {
	case 0:
		return &plainError{s}
	case 1:
		return &wrapError{s, p.wrapped[0]}
	default:
		return &wrapErrors{s, p.wrapped}
	}
}

type plainError struct{ s string }

func (e *plainError) Error() string { return e.s }

type wrapError struct {
	s   string
	err error
}

func (e *wrapError) Error() string { return e.s }
func (e *wrapError) Unwrap() error { return e.err }

type wrapErrors struct {
	s    string
	errs []error
}

func (e *wrapErrors) Error() string   { return e.s }
func (e *wrapErrors) Unwrap() []error { return e.errs }
