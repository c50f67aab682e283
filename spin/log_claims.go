package spin

import (
	"encoding/binary"
	"unsafe"
)

// Claims is a run of records one Log.ClaimN claimed: the payloads of Len()
// records of one type and size, one after another in the Log's buffer. It
// is a small value the compiler keeps in registers: a loop over At makes
// no call and reloads nothing from the Log. It is valid until the Log's
// next Commit or Abort.
type Claims struct {
	at      unsafe.Pointer // the first payload
	step, n uintptr        // record length (header included), payload length
	k       int
}

// Len returns how many records c holds.
func (c Claims) Len() int { return c.k }

// At returns the i-th payload (0 ≤ i < Len()) to fill in place; other i
// get nil. It inlines.
func (c Claims) At(i int) []byte {
	if uint(i) >= uint(c.k) {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Add(c.at, uintptr(i)*c.step)), c.n)
}

// ClaimN claims up to k records of type typ with n-byte payloads, after
// those claimed already, and returns them; Commit publishes them with the
// rest of the batch. Len() is less than k where the buffer wraps (the next
// ClaimN starts after the padding) or where the consumer's head leaves no
// more room, and 0 for k ≤ 0, for a claim ClaimType refuses, and when
// the Log is full.
//
// Cost: one call for the batch — ClaimType for the first record, an 8-byte
// store for each other header, a load of the consumer's head only when
// the cached one leaves too little room — where Claim is a call per
// record. Fill the payloads with a copy that inlines (asm.CopyLine, or
// Records.ClaimN's typed copy) and the loop makes no call at all; see
// BenchmarkLogStream/claimn and docs/benchmarks.md for what that is worth.
func (l *Log) ClaimN(typ uint32, n, k int) Claims {
	if k <= 0 || l.ClaimType(typ, n) == nil {
		return Claims{}
	}
	rec := recordLength(uint64(n))
	idx := (l.pending - rec) & l.mask // the first record, after any padding
	data := unsafe.Pointer(unsafe.SliceData(l.data))
	if k == 1 {
		// One record: ClaimType has done it all. Returning here is worth
		// about a fifth of a Log's rate at -batch 1 (docs/benchmarks.md,
		// ninth session); the general path below with its two divisions
		// replaced by multiplications was not faster than with them.
		return Claims{at: unsafe.Add(data, idx+RecordHeaderLength), step: uintptr(rec), n: uintptr(n), k: 1}
	}
	more := min(uint64(k-1), (l.capacity-idx)/rec-1)
	room := l.capacity - (l.pending - l.headCache) // after the first record
	if room/rec < more {
		if !l.refreshHead() {
			more = 0 // the fault is ProducerErr's; the next claim gets nil
		}
		room = l.capacity - (l.pending - l.headCache)
	}
	more = min(more, room/rec)
	hdr := recordHeader(typ, uint64(n))
	for p := idx + rec; p < idx+(1+more)*rec; p += rec {
		binary.LittleEndian.PutUint64((*[RecordHeaderLength]byte)(unsafe.Add(data, p))[:], hdr)
	}
	l.pending += more * rec
	return Claims{at: unsafe.Add(data, idx+RecordHeaderLength), step: uintptr(rec), n: uintptr(n), k: int(1 + more)}
}
