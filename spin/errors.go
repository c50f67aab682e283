package spin

import (
	"errors"

	"github.com/spinwire/spinwire/internal/msg"
)

// Sentinel errors; functions wrap them with the values that explain them.
var (
	ErrCorrupt         = errors.New("spin: corrupt shared state")        // a peer wrote a value no correct peer could
	ErrInvalidCapacity = errors.New("spin: invalid capacity")            // not a power of two, or out of range
	ErrBadRegion       = errors.New("spin: bad region")                  // region too short, misaligned or not a ring
	ErrTooLarge        = errors.New("spin: record too large")            // Log record over its maximum
	ErrUnsupported     = errors.New("spin: unsupported on this host")    // e.g. futex on a non-Linux OS
	ErrConsumerTaken   = errors.New("spin: ring already has a consumer") // another live handle holds the consumer side
)

// fault records why a ring stopped, without building an error on the hot
// path; Err turns it into one.
type fault struct {
	code  uint32 // faultNone, or what was wrong
	where uint64 // our position when it was seen
	seen  uint64 // the hostile value
}

const (
	faultNone   uint32 = iota
	faultTail          // producer cursor out of [head, head+capacity]
	faultHead          // consumer cursor out of [tail-capacity, tail]
	faultSeq           // slot sequence neither ready nor the previous lap
	faultLength        // record length out of range
	faultType          // record type reserved or out of range
)

var faultNames = [...]string{
	faultNone:   "none",
	faultTail:   "producer position out of range",
	faultHead:   "consumer position out of range",
	faultSeq:    "slot sequence out of range",
	faultLength: "record length out of range",
	faultType:   "record type out of range",
}

func (f *fault) set(code uint32, where, seen uint64) {
	if f.code == faultNone {
		f.code, f.where, f.seen = code, where, seen
	}
}

func (f *fault) err() error {
	if f.code == faultNone {
		return nil
	}
	return msg.Errorf("%w: %s: at position %d saw %d (%#x)", ErrCorrupt, faultNames[f.code], f.where, f.seen, f.seen)
}
