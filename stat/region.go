package stat

import (
	"bytes"
	"sync/atomic"
	"unsafe"
)

// Region layout: offsets into the segment body. See doc.go's diagram.
const (
	magic   = 0x5441_5453_4e49_5053 // "SPINSTAT", little-endian
	version = 1

	procHeaderLength = 256
	offMagic         = 0  // uint64
	offVersion       = 8  // uint32
	offSlots         = 12 // uint32: endpoint slots in the region
	offPID           = 16 // uint32
	offUID           = 20 // uint32
	offInterval      = 24 // uint64: sampling interval, ns
	offStarted       = 32 // uint64: unix ns
	offUpdated       = 40 // uint64: unix ns of the last sampling round
	offCommand       = 64 // [64]byte: the process's command name
	commandLength    = 64

	entryLength    = 2048
	entOffState    = 0   // uint32: slotFree, slotLive, slotClosed
	entOffKind     = 4   // uint32: Kind
	entOffPrint    = 8   // uint64: layout fingerprint of the message type
	entOffCreated  = 16  // uint64: unix ns
	entOffUpdated  = 24  // uint64: unix ns of the last sample
	entOffName     = 32  // [96]byte
	entOffType     = 128 // [96]byte
	entOffCounters = 224 // [Counters]uint64
	entOffHist     = 1024
	nameLength     = 96

	// Counters is how many counters an endpoint has; what each means
	// depends on its Kind (CounterNames).
	Counters = 24
	// Buckets is how many buckets a Histogram has (hist.go).
	Buckets = 128

	// DefaultSlots is how many endpoints a process can register.
	DefaultSlots = 128
)

// Endpoint slot states.
const (
	slotFree   = 0
	slotLive   = 1
	slotClosed = 2
)

// fingerprint marks a counters segment in its layout header.
const fingerprint = 0x7370_696e_7374_6174 // "spinstat"

// regionLength is the body length for slots endpoints.
func regionLength(slots int) int { return procHeaderLength + slots*entryLength }

// word returns the uint64 at off in b, which the caller has bounds-checked.
func word(b []byte, off int) *uint64 { return (*uint64)(unsafe.Pointer(&b[off])) }

// half returns the uint32 at off in b.
func half(b []byte, off int) *uint32 { return (*uint32)(unsafe.Pointer(&b[off])) }

// load and store are the only accesses to shared words: atomic, so a
// torn value is impossible and the race detector is satisfied.
func load(b []byte, off int) uint64       { return atomic.LoadUint64(word(b, off)) }
func store(b []byte, off int, v uint64)   { atomic.StoreUint64(word(b, off), v) }
func load32(b []byte, off int) uint32     { return atomic.LoadUint32(half(b, off)) }
func store32(b []byte, off int, v uint32) { atomic.StoreUint32(half(b, off), v) }

// putString writes s, cut to n-1 bytes, NUL-padded, at off.
func putString(b []byte, off, n int, s string) {
	clear(b[off : off+n])
	copy(b[off:off+n-1], s)
}

// getString reads a NUL-terminated string of at most n bytes at off,
// Printable.
func getString(b []byte, off, n int) string {
	s := b[off : off+n]
	if i := bytes.IndexByte(s, 0); i >= 0 {
		s = s[:i]
	}
	return Printable(string(s))
}

// Printable returns s with every byte that is not printable ASCII as '?':
// what Scan does to every string it reads from a registry, so that a
// hostile writer cannot smuggle escape sequences into an operator's
// terminal, nor bytes that are not UTF-8 into a Prometheus label. For the
// strings that come from elsewhere: the file names of segments and
// sockets (Process.Name), and the errors that quote them.
func Printable(s string) string {
	i := 0
	for i < len(s) && s[i] >= 0x20 && s[i] <= 0x7e {
		i++
	}
	if i == len(s) {
		return s
	}
	b := []byte(s)
	for ; i < len(b); i++ {
		if b[i] < 0x20 || b[i] > 0x7e {
			b[i] = '?'
		}
	}
	return string(b)
}
