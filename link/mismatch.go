package link

import (
	"github.com/spinwire/spinwire/layout"
)

// Layout mismatches are reported from each side's own point of view. The
// server compares the client's schemas (from the hello) with its own and
// logs a *layout.MismatchError whose Ours is the server's type; it refuses
// the client with the schema text of its type that differs, and the client
// compares that with its own and returns a *layout.MismatchError whose
// Ours is the client's type.

// Names of what is compared, in MismatchError.What: "link request T",
// "link response T", T being this side's type.
const (
	whatRequest  = "link request "
	whatResponse = "link response "
	whatPush     = "link push "
)

// mismatchWith compares ours with the peer's type, known by its fingerprint
// and its schema text (layout.Schema.Encode): nil when they agree, or the
// difference with ours as Ours and What naming the type. When the text
// does not decode, or decodes to our layout under another fingerprint, only
// the fingerprints are compared.
func mismatchWith(what string, ours *layout.Schema, theirsFP uint64, theirsText []byte) *layout.MismatchError {
	what += ours.Name
	if theirs, err := layout.DecodeSchema(theirsText); err == nil {
		// A type assertion, not errors.As: Diff returns the *MismatchError
		// itself, and errors.As would link reflection into every server.
		if e, ok := ours.Diff(theirs).(*layout.MismatchError); ok {
			e.What = what
			return e
		}
	}
	if theirsFP == ours.Fingerprint {
		return nil
	}
	return layout.FingerprintMismatch(what, ours.Fingerprint, theirsFP)
}
