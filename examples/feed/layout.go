package main

import (
	"unsafe"

	"github.com/spinwire/spinwire/layout"
	"github.com/spinwire/spinwire/spin"
)

// Tick is one market-data update, as it lies in shared memory. It is a
// fixed-layout type (layout.Of checks this when the ring is made): sized
// integers only — no int, bool, string, slice or pointer, whose size or
// meaning could differ between two builds or two processes — and every byte
// belongs to a field, so the padding is written out as `_` fields instead of
// being left to the compiler.
//
// It is TickLength (56) bytes: the ring's InSlot protocol appends an 8-byte
// sequence word to each slot, so a tick and its "ready" flag fill exactly one
// 64-byte cache line, and the subscriber gets both in one cache-line transfer.
type Tick struct {
	Seq    uint64  //  0: position in the feed: 0, 1, 2, … with no gaps
	Stamp  uint64  //  8: asm.Ticks() when the publisher sent the tick
	Symbol [8]byte // 16: instrument, ASCII, NUL-padded
	Bid    int64   // 24: best bid, in units of 0.0001
	Ask    int64   // 32: best ask, in units of 0.0001
	BidQty uint32  // 40: shares at the bid
	AskQty uint32  // 44: shares at the ask
	Venue  uint16  // 48: exchange id
	Flags  uint8   // 50: reserved, zero
	_      [5]byte // 51: explicit padding to 56
}

// TickLength is sizeof(Tick).
const TickLength = 56

// The feed segment's body: two control blocks, then the ring.
//
//	0               128              256
//	+----------------+----------------+------------------------------------+
//	| publisher      | subscriber     | spin.Ring[Tick], InSlot protocol:  |
//	| block (128 B)  | block (128 B)  | 512-byte header, then Capacity     |
//	| State          | SubscriberPID  | slots of 64 bytes (Tick + sequence)|
//	| Published      |                |                                    |
//	+----------------+----------------+------------------------------------+
//
// Each control block is written by one process only and fills 128 bytes —
// two cache lines, the pair the adjacent-line prefetcher moves together — so
// a store by one process never invalidates a line the other one polls.
const (
	PublisherOffset  = 0   // control.State, control.Published: written by the publisher
	SubscriberOffset = 128 // control.SubscriberPID: written by the subscriber
	RingOffset       = 256 // the ring region
	controlLength    = 256 // bytes of control blocks before the ring
)

// Publisher states (control.State).
const (
	StateFormatting = 0 // the segment exists but the ring is not ready yet
	StateReady      = 1 // the ring is formatted; waiting for a subscriber
	StatePublishing = 2 // ticks are flowing
	StateDone       = 3 // the publisher has stopped; Published is final
)

// control mirrors the two control blocks at the start of the body.
type control struct {
	State         uint32                                        // publisher: StateFormatting…StateDone
	_             [4]byte                                       //
	Published     uint64                                        // publisher: ticks published; final once State is StateDone
	_             [SubscriberOffset - PublisherOffset - 16]byte // rest of the publisher's block
	SubscriberPID uint32                                        // subscriber: its pid while attached, else 0
	_             [controlLength - SubscriberOffset - 4]byte    // rest of the subscriber's block
}

// Compile-time checks: these fail to build if a field moves or a size
// changes, so the diagram, the constants and the structs cannot disagree.
var (
	_ = [1]struct{}{}[unsafe.Sizeof(Tick{})-TickLength]
	_ = [1]struct{}{}[unsafe.Offsetof(control{}.State)-PublisherOffset]
	_ = [1]struct{}{}[unsafe.Offsetof(control{}.SubscriberPID)-SubscriberOffset]
	_ = [1]struct{}{}[unsafe.Sizeof(control{})-RingOffset]
)

// ringProtocol is the ring's protocol: the sequence word travels in the
// tick's cache line (see Tick).
const ringProtocol = spin.InSlot

// bodyLength is the body of a feed segment whose ring has capacity slots.
func bodyLength(capacity int) (int, error) {
	n, _, err := spin.RingLength[Tick](capacity, ringProtocol)
	return RingOffset + n, err
}

// feedFingerprint identifies the body's layout: both control blocks and the
// Tick. The publisher records it in the segment header; a subscriber built
// with a different Tick or control block is refused by layout.Open before it
// reads a byte of the body.
func feedFingerprint() uint64 {
	return layout.MustOf[control]().Fingerprint*31 + layout.MustOf[Tick]().Fingerprint
}
