//go:build msgfmt

package msg

import "fmt"

// With the msgfmt tag, for go vet only (see the package comment): the
// functions forward to fmt, so that vet's printf check knows them as
// fmt.Sprintf, fmt.Appendf and fmt.Errorf wrappers and checks their
// callers. Never build a binary with this tag: it links fmt.

// Sprintf is fmt.Sprintf.
func Sprintf(format string, args ...any) string { return fmt.Sprintf(format, args...) }

// Appendf is fmt.Appendf.
func Appendf(b []byte, format string, args ...any) []byte { return fmt.Appendf(b, format, args...) }

// Errorf is fmt.Errorf.
func Errorf(format string, args ...any) error { return fmt.Errorf(format, args...) }
