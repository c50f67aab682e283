package main

import (
	"unsafe"
)

// Tick is one market-data update, as it lies in the topic's shared memory.
// It is a fixed-layout type (layout.Of checks this when the topic is
// created and again when a subscriber joins, naming the field that differs
// if the two builds disagree): sized integers only — no int, bool, string,
// slice or pointer, whose size or meaning could differ between two builds
// or two processes — and every byte belongs to a field, so the padding is
// written out as `_` fields instead of being left to the compiler.
//
// It is TickLength (56) bytes: a topic slot adds an 8-byte sequence word,
// so a tick and its "ready" mark fill exactly one 64-byte cache line, and a
// subscriber gets both in one cache-line transfer.
type Tick struct {
	Seq    uint64  //  0: position in the feed: 0, 1, 2, … with no gaps
	Stamp  uint64  //  8: asm.Ticks() when the publisher sent the tick
	Symbol [8]byte // 16: instrument, ASCII, NUL-padded
	Bid    int64   // 24: best bid, in units of 0.0001
	Ask    int64   // 32: best ask, in units of 0.0001
	BidQty uint32  // 40: shares at the bid
	AskQty uint32  // 44: shares at the ask
	Venue  uint16  // 48: exchange id
	Flags  uint8   // 50: FlagLast, or zero
	_      [5]byte // 51: explicit padding to 56
}

// TickLength is sizeof(Tick).
const TickLength = 56

// FlagLast marks the tick that ends a run: it carries no quote, and its
// Seq is the number of ticks published before it. A subscriber that takes
// it knows the publisher is done and how many ticks it sent.
const FlagLast = 1

// Compile-time check: this fails to build if the size changes, so the
// comment and the constant cannot disagree with the struct.
var _ = [1]struct{}{}[unsafe.Sizeof(Tick{})-TickLength]
