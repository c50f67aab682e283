package spin

import (
	"encoding/binary"
	"unsafe"

	"github.com/spinwire/spinwire/internal/msg"
)

// Claims is a run of records one Log.ClaimN claimed: the payloads of Len()
// records of one type and size, one after another in the Log's buffer. It
// is a small value the compiler keeps in registers: a loop over At makes
// no call and reloads nothing from the Log. It is valid until the Log's
// next Commit or Abort.
type Claims struct {
	at   unsafe.Pointer // the first payload
	step uintptr        // record length, header included
	k    int
	hdr  uint64 // the records' header (recordHeader): the payload length in its low 32 bits
}

// Len returns how many records c holds.
func (c Claims) Len() int { return c.k }

// At writes the i-th record's header and returns its payload (0 ≤ i <
// Len()) to fill in place; other i get nil. It inlines. Every record of
// the run must be taken with At before Commit (see ClaimN).
func (c Claims) At(i int) []byte {
	if uint(i) >= uint(c.k) {
		return nil
	}
	p := unsafe.Add(c.at, uintptr(i)*c.step)
	c.header(p)
	return unsafe.Slice((*byte)(p), uint32(c.hdr))
}

// header writes the header of the record whose payload is at p.
func (c Claims) header(p unsafe.Pointer) {
	binary.LittleEndian.PutUint64((*[RecordHeaderLength]byte)(unsafe.Add(p, -RecordHeaderLength))[:], c.hdr)
}

// ClaimN claims up to k records of type typ with n-byte payloads, after
// those claimed already, and returns them; Commit publishes them with the
// rest of the batch. Len() is less than k where the buffer wraps (the next
// ClaimN starts after the padding) or where the consumer's head leaves no
// more room, and 0 for k ≤ 0, for a claim ClaimType refuses, and when
// the Log is full.
//
// Every record claimed must be taken with Claims.At before Commit: At
// writes the record's header, ClaimN writes only the first's. A record
// not taken is published with whatever its header's bytes held, which the
// consumer reads as a corrupt Log (ErrCorrupt) or as old records; Commit
// panics on it in race-detector builds (checkRuns).
//
// Cost: one call for the batch — ClaimType for the first record and a
// load of the consumer's head only when the cached one leaves too little
// room — where Claim is a call per record. Fill the payloads with a copy
// that inlines (asm.CopyLine, or Records.ClaimN's typed copy) and the
// loop makes no call at all (BenchmarkLogStream/claimn). Each header is
// written with its payload, in the line the fill is about to write: with
// every header written in a pass of its own before the fill, 64-byte
// records at batch 64 ran at 50.5–54.5 M msg/s, written this way at
// 71.0–73.4 M, and Commit writing them again after the fill lost most of
// that (pingpong -mode throughput -protocol log -size 64 -batch 64,
// alternating runs, the EPYC host of docs/benchmarks.md in its slow
// state; "Stream sessions", twenty-third).
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
		return Claims{at: unsafe.Add(data, idx+RecordHeaderLength), step: uintptr(rec), k: 1, hdr: recordHeader(typ, uint64(n))}
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
	l.pending += more * rec
	hdr := recordHeader(typ, uint64(n))
	if raceEnabled {
		l.runs = append(l.runs, claimRun{at: idx, n: 1 + more, step: rec, hdr: hdr})
	}
	return Claims{at: unsafe.Add(data, idx+RecordHeaderLength), step: uintptr(rec), k: int(1 + more), hdr: hdr}
}

// claimRun is a run ClaimN handed out: n records of step bytes from
// buffer offset at, each to carry header hdr.
type claimRun struct{ at, n, step, hdr uint64 }

// checkRuns panics if a record of a run ClaimN handed out in this batch
// does not carry its header, that is, was not taken with At; then it
// forgets the runs. Commit calls it in race-detector builds only: the
// check reads every record's header again, which costs a stream what a
// second pass over the headers costs (see ClaimN).
func (l *Log) checkRuns() {
	for _, r := range l.runs {
		for i := range r.n {
			if h := binary.LittleEndian.Uint64(l.data[r.at+i*r.step:]); h != r.hdr {
				panic(msg.Sprintf("spin: Log.Commit: record %d of a run of %d from Log.ClaimN was not taken with At (header %#x, want %#x)", i, r.n, h, r.hdr))
			}
		}
	}
	l.runs = l.runs[:0]
}
