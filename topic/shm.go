package topic

import (
	"sync/atomic"
	"unsafe"
)

// Topic segment layout (offsets into the body).
const (
	topicMagic   = 0x4350_4f54_4e49_5053 // "SPINTOPC"
	topicVersion = 1

	offMagic     = 0   // uint64
	offVersion   = 8   // uint32
	offPolicy    = 12  // uint32
	offCapacity  = 16  // uint64
	offStride    = 24  // uint32
	offMsgSize   = 28  // uint32
	offHistory   = 32  // uint64
	offSchemaOff = 40  // uint64
	offSchemaLen = 48  // uint32
	offFPrint    = 56  // uint64: the message type's layout fingerprint
	offScanGen   = 64  // uint64: the publisher's completed scans for subscriber segments
	offTail      = 128 // uint64
	offEvictions = 192 // uint64: tokens appended so far
	offEvicted   = 200 // [evictSlots]uint64 tokens, a ring
	evictSlots   = 256
	// The latency stamp (latency.go), a line of its own: the position
	// stamped + 1 (0 while being rewritten), then its TSC ticks.
	offStampPos   = 2304
	offStampTicks = 2312
	slotsOffset   = 4096
	seqLength     = 8

	subMagic    = 0x4255_5354_4e49_5053 // "SPINTSUB"
	subVersion  = 1
	subCells    = 64
	cellLength  = 64
	subHeader   = 64
	subLength   = subHeader + subCells*cellLength
	cellState   = 0  // uint32: cellFree, cellActive, cellClosed
	cellToken   = 8  // uint64
	cellEpoch   = 16 // uint64: the publisher epoch the cell follows
	cellPos     = 24 // uint64: the next sequence the subscriber reads
	cellLost    = 32 // uint64: messages it lost to laps (for observers)
	cellParked  = 40 // uint32: parkedHeld or parkedRung while the subscriber waits for the tail (wait.go)
	cellWaits   = 48 // uint64: how many times it has parked without the bell (wait.go)
	cellFree    = 0
	cellActive  = 1
	cellClosed  = 2
	cellJoining = 3                     // reliable: not yet seen by the publisher; not waited for
	topicFPrint = 0x746f_7069_6373_6567 // marks topic segments' layout headers
	subFPrint   = 0x746f_7069_6373_7562 // and subscriber segments'
	bellFPrint  = 0x746f_7069_6362_656c // and bells' (wait.go)
)

func word(b []byte, off int) *uint64    { return (*uint64)(unsafe.Pointer(&b[off])) }
func load(b []byte, off int) uint64     { return atomic.LoadUint64(word(b, off)) }
func load32(b []byte, off int) uint32   { return atomic.LoadUint32((*uint32)(unsafe.Pointer(&b[off]))) }
func store(b []byte, off int, v uint64) { atomic.StoreUint64(word(b, off), v) }
func store32(b []byte, off int, v uint32) {
	atomic.StoreUint32((*uint32)(unsafe.Pointer(&b[off])), v)
}

// stride returns the slot stride for messages of size bytes: the
// sequence word and the message, rounded up to a cache line.
func stride(size uintptr) int { return (seqLength + int(size) + 63) &^ 63 }

// topicLength returns the body length of a topic of capacity slots.
func topicLength(capacity, stride, schemaLen int) int {
	return slotsOffset + capacity*stride + (schemaLen+63)&^63
}
