package restartbench

import (
	"fmt"
	"sync/atomic"
	"unsafe"
)

// A log is a shared-memory record of what a child did, kept where its
// death cannot take it: the orchestrator creates it (a sealed memfd, see
// logfile.go), hands it to the child as an inherited descriptor, and reads
// it after the child exits or is killed — the kernel keeps the pages of a
// SIGKILLed process's shared mappings. A client's log holds one call
// record per call it began; a server's one execution record per request
// its handler ran.
//
// Each row is one uint64, native byte order; its fields are shown from
// the most significant bit (63) on the left to bit 0 on the right.
//
//	 63                                                            0
//	+---------------------------------------------------------------+
//	|        Magic: callMagic or execMagic (parent)                 |  0
//	+---------------------------------------------------------------+
//	|        Capacity: records the log holds (parent)               |  8
//	+---------------------------------------------------------------+
//	|        Position: records reserved (child, atomic add)         | 16
//	+---------------------------------------------------------------+
//	|        Full: reservations refused for want of room (child)    | 24
//	+---------------------------------------------------------------+
//	|        Reserved, zero, up to 64 bytes                         | 32
//	+---------------------------------------------------------------+
//	|        Records, recordLength bytes each                       | 64
//	...                                                           ...
//
// A call record (client):
//
//	 63                            32 31                     8 7      0
//	+-------------------------------+------------------------+--------+
//	|              Seq              |          Conn          |Outcome |  +0 state
//	+-------------------------------+------------------------+--------+
//	|        Start: CLOCK_MONOTONIC ns when the call began            |  +8
//	+-----------------------------------------------------------------+
//
// The client reserves a record (Position), stores Start, then the state
// with outcomeInFlight — both before the call — and the state again with
// the call's outcome after it. A state of zero is a record reserved but
// never begun: the client died between the two, before sending anything.
//
// An execution record (server):
//
//	 63                            32 31                             0
//	+-------------------------------+-------------------------------+
//	|   Proc: client incarnation    |             Conn              |  +0 key
//	+-------------------------------+-------------------------------+
//	|              Seq (0: record not written yet)                  |  +8
//	+---------------------------------------------------------------+
//
// The server reserves a record, stores the key, then Seq, before its
// handler writes the response: a response a client took was logged.
//
// Every word is written with an atomic store: the orchestrator may read a
// live log (its tests stop a child once its log shows a given state), and
// the order of the stores is what makes a record mean something after a
// kill. Nothing in a log is trusted by its reader (ledger.go): a child
// writes it.
const (
	magicOffset     = 0                  // uint64: callMagic or execMagic, written by the parent
	capacityOffset  = magicOffset + 8    // uint64: records the log holds, written by the parent
	positionOffset  = capacityOffset + 8 // uint64: records reserved so far (may pass capacity)
	fullOffset      = positionOffset + 8 // uint64: reservations refused for want of room
	reservedOffset  = fullOffset + 8     // zero up to logHeaderLength
	logHeaderLength = 64                 // bytes; the records start here
	recordLength    = 16                 // bytes per record, call or execution

	stateOffset = 0 // call record: uint64 seq<<32 | conn<<8 | outcome
	startOffset = 8 // call record: int64 CLOCK_MONOTONIC ns, stored before the state
	keyOffset   = 0 // execution record: uint64 proc<<32 | conn
	seqOffset   = 8 // execution record: uint64 seq, stored after the key; 0 = not written

	callMagic = 0x31306c6c61636272 // "rbcall01" read as a little-endian uint64
	execMagic = 0x3130636578656272 // "rbexec01"

	maxLogConns = 1 << 24 // connections a call record can name
	maxLogSeq   = 1<<32 - 1
)

// logHeader mirrors the header above; the asserts below fail to compile
// when the struct and the constants disagree.
type logHeader struct {
	magic    uint64
	capacity uint64
	position atomic.Uint64
	full     atomic.Uint64
	_        [logHeaderLength - reservedOffset]byte
}

var lh0 logHeader

var (
	_ = [1]struct{}{}[unsafe.Offsetof(lh0.magic)-magicOffset]
	_ = [1]struct{}{}[unsafe.Offsetof(lh0.capacity)-capacityOffset]
	_ = [1]struct{}{}[unsafe.Offsetof(lh0.position)-positionOffset]
	_ = [1]struct{}{}[unsafe.Offsetof(lh0.full)-fullOffset]
	_ = [1]struct{}{}[unsafe.Sizeof(lh0)-logHeaderLength]
	_ = [1]struct{}{}[startOffset+8-recordLength]
	_ = [1]struct{}{}[seqOffset+8-recordLength]
)

// Word indexes into a log seen as []uint64.
const (
	magicWord    = magicOffset / 8
	capacityWord = capacityOffset / 8
	positionWord = positionOffset / 8
	fullWord     = fullOffset / 8
	headerWords  = logHeaderLength / 8
	recordWords  = recordLength / 8
)

// logLength is the bytes of a log of capacity records.
func logLength(capacity int) int { return logHeaderLength + capacity*recordLength }

// outcome is how a call ended, as its client saw it (the low byte of a
// call record's state). Zero is no outcome: a record never begun.
type outcome uint8

const (
	outcomeInFlight       outcome = 1 + iota // begun; no outcome stored (yet)
	outcomeAnswered                          // a response, its content checked correct
	outcomeWrong                             // a response with the wrong content
	outcomeFailedPeerGone                    // Call returned ErrPeerGone
	outcomeFailedTimeout                     // Call returned ErrTimeout
	outcomeFailedOther                       // Call returned another error (ErrCorrupt, …)

	// What the ledger makes of a call still in flight when its client
	// ended (never in a log).
	outcomeInterrupted // its client was killed during it
	outcomeLost        // no outcome though its caller had all the time its deadline allows

	lastLoggedOutcome = outcomeFailedOther
)

// callState is a call record's state word.
func callState(seq uint64, conn int, o outcome) uint64 {
	return seq<<32 | uint64(conn)<<8 | uint64(o)
}

// splitState takes a call record's state word apart.
func splitState(st uint64) (seq uint64, conn int, o outcome) {
	return st >> 32, int(st>>8) & (maxLogConns - 1), outcome(st)
}

// checkLog checks the header of log w against magic and returns the
// records it holds: its position, which may not pass the capacity that
// w's length allows; an error names the offending value. It trusts only
// len(w) (the reader's own mapping), never the capacity word.
func checkLog(w []uint64, magic uint64) (int, error) {
	if len(w) < headerWords {
		return 0, fmt.Errorf("%w: %d bytes, less than a header (%d)", errBadLog, 8*len(w), logHeaderLength)
	}
	if m := atomic.LoadUint64(&w[magicWord]); m != magic {
		return 0, fmt.Errorf("%w: magic %#x, want %#x", errBadLog, m, magic)
	}
	capacity := uint64(len(w)-headerWords) / recordWords
	// SYNC: acquire of the position; pairs with the child's atomic add in
	// reserve — the records below it are reserved (each one's own words
	// say whether it was written).
	pos := atomic.LoadUint64(&w[positionWord])
	if full := atomic.LoadUint64(&w[fullWord]); full != 0 {
		return 0, fmt.Errorf("%w: %d records not logged (capacity %d)", errLogFull, full, capacity)
	}
	if pos > capacity {
		return 0, fmt.Errorf("%w: position %d beyond capacity %d", errBadLog, pos, capacity)
	}
	return int(pos), nil
}
