// Package msg formats the library's error and log messages without fmt.
//
// Errorf, Sprintf and Appendf take fmt's format strings and give fmt's
// output for the verbs and operands spinwire's messages use (the table
// below); the tests compare them with fmt verb by verb.
//
// Why it exists: fmt brings its reflection-driven printer, and the time
// and float formatting that printer reaches, into every binary that links
// it, and in a long-running server those pages are resident as soon as a
// neighbour of them runs (the kernel reads around each page a process
// touches). asm, layout, affinity, spin, agent and link format through this
// package, so a program that imports only those does not link fmt at all:
// TestServerBinaryIsLean (cmd/internal/echo) keeps fmt out of the echo
// server's binary.
//
//	verbs   %v %s %d %q %x %X %o %w %%, flags # 0 - + and space, a width
//	        (%#016x); no precision, no argument indexes
//	values  every integer kind, string, []byte, bool, error (Error),
//	        Stringer (String), nil; named types of those kinds through
//	        reflect's kind (no String method: the number or the string);
//	        anything else prints as %!verb(type)
//
// Errorf wraps every %w operand, as fmt.Errorf does: one gives an error
// with Unwrap() error, several an error with Unwrap() []error.
//
// Format strings are checked by go vet: built with the msgfmt tag, Errorf,
// Sprintf and Appendf forward to fmt's (fmt.go), so vet's printf check
// takes them for fmt's wrappers and checks every call of them, and of any
// function that forwards its format to them, as it checks fmt's own
// (%w allowed in Errorf only). The Makefile's vet target vets with that tag;
// vet the module with -tags msgfmt to run the same check by hand. (vet's
// -printf.funcs flag is no substitute: it takes every listed function for a
// Printf and reports each %w given to Errorf.)
//
// Cost: one allocation for the result (and one for the error value), and a
// reflect.ValueOf per operand. For messages, not for hot paths.
//
// Budget rate-limits the log lines that peers can cause (link's server,
// topic's publisher): ten at once, say, then one a second, the next line
// let through saying how many were held back (HeldNote).
package msg
