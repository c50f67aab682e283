package spin

import (
	"encoding/binary"
	"errors"
	"testing"
	"unsafe"
)

// TestLogClaimN: runs of records claimed with ClaimN arrive in order with
// their types, beside single claims, across the wrap; a run stops at the
// buffer's end and at the room the consumer's head leaves (loading the
// head when the cached one is stale); bad claims and a corrupt head get
// an empty run; nothing allocates.
func TestLogClaimN(t *testing.T) {
	t.Run("runs_arrive_in_order_across_the_wrap", logClaimNInOrder)
	t.Run("runs_of_one_arrive_in_order_across_the_wrap", logClaimNOne)
	t.Run("run_stops_at_the_end_and_the_head", logClaimNStops)
	t.Run("bad_claims_get_an_empty_run", logClaimNBad)
	t.Run("records", logClaimNRecords)
	t.Run("zero_allocs", logClaimNZeroAllocs)
	t.Run("at_writes_the_headers", logClaimNAtWritesHeaders)
	t.Run("record_not_taken", logClaimNNotTaken)
}

// logClaimNAtWritesHeaders: ClaimN writes the first record's header and
// At each record's, whatever the buffer held there before.
func logClaimNAtWritesHeaders(t *testing.T) {
	l := newLog(t, 256)
	for i := range l.data {
		l.data[i] = 0xEE
	}
	c := l.ClaimN(4, 8, 3) // 16-byte records at 0, 16, 32
	want := recordHeader(4, 8)
	hdr := func(off int) uint64 { return binary.LittleEndian.Uint64(l.data[off:]) }
	if hdr(0) != want || hdr(16) == want {
		t.Fatalf("after ClaimN: headers %#x, %#x", hdr(0), hdr(16))
	}
	c.At(2)
	if hdr(32) != want || hdr(16) == want {
		t.Fatalf("after At(2): headers %#x, %#x", hdr(16), hdr(32))
	}
	c.At(1)
	l.Commit()
	n := l.Poll(0, func(typ uint32, b []byte) {
		if typ != 4 || len(b) != 8 {
			t.Fatalf("record of type %d, %d bytes", typ, len(b))
		}
	})
	if n != 3 || l.Err() != nil {
		t.Fatalf("polled %d, %v", n, l.Err())
	}
}

// logClaimNNotTaken: in a race-detector build, Commit panics when a
// record of a run was not taken with At.
func logClaimNNotTaken(t *testing.T) {
	if !raceEnabled {
		t.Skip("checked in race-detector builds only")
	}
	l := newLog(t, 256)
	for i := range l.data {
		l.data[i] = 0xEE
	}
	c := l.ClaimN(1, 8, 3)
	c.At(0)
	c.At(2)
	defer func() {
		if recover() == nil {
			t.Fatal("Commit published a record not taken")
		}
	}()
	l.Commit()
}

func logClaimNInOrder(t *testing.T) {
	l := newLog(t, 1024)
	var sent, got uint64
	for round := range 100 { // 100 × 7 records of 24 or 32 bytes wrap the log often
		n := 16 + 8*(round%2)
		for want := 6; want > 0; {
			c := l.ClaimN(5, n, want)
			if c.Len() == 0 {
				t.Fatalf("round %d: empty run with %d bytes free", round, l.Capacity()-l.Len())
			}
			for i := range c.Len() {
				b := c.At(i)
				if len(b) != n {
					t.Fatalf("payload of %d bytes, want %d", len(b), n)
				}
				binary.LittleEndian.PutUint64(b, sent)
				sent++
			}
			want -= c.Len()
		}
		binary.LittleEndian.PutUint64(l.ClaimType(6, 8), sent)
		sent++
		l.Commit()
		l.Poll(0, func(typ uint32, b []byte) {
			if v := binary.LittleEndian.Uint64(b); v != got || (typ == 6) != (len(b) == 8) {
				t.Fatalf("round %d: record %d of type %d, %d bytes; want %d", round, v, typ, len(b), got)
			}
			got++
		})
	}
	if got != sent {
		t.Fatalf("received %d of %d", got, sent)
	}
}

// logClaimNOne: a run of one (ClaimN's early return for k = 1) is
// the record ClaimType took, wherever the buffer wraps.
func logClaimNOne(t *testing.T) {
	l := newLog(t, 1024)
	for i := range uint64(400) { // records of 16 to 48 bytes wrap the log often
		n := 8 + 8*int(i%5)
		c := l.ClaimN(7, n, 1)
		if c.Len() != 1 || len(c.At(0)) != n || c.At(1) != nil {
			t.Fatalf("record %d: run of %d (payload %d bytes), want one of %d", i, c.Len(), len(c.At(0)), n)
		}
		binary.LittleEndian.PutUint64(c.At(0), i)
		l.Commit()
		got := 0
		l.Poll(0, func(typ uint32, b []byte) {
			if typ != 7 || len(b) != n || binary.LittleEndian.Uint64(b) != i {
				t.Fatalf("record %d: got type %d, %d bytes, value %d", i, typ, len(b), binary.LittleEndian.Uint64(b))
			}
			got++
		})
		if got != 1 {
			t.Fatalf("record %d: polled %d records", i, got)
		}
	}
}

func logClaimNStops(t *testing.T) {
	l := newLog(t, 256) // 16-byte records (8-byte payloads): 16 fit
	if c := take(l.ClaimN(1, 8, 100)); c.Len() != 16 {
		t.Fatalf("empty log: run of %d, want 16", c.Len())
	}
	l.Commit()
	if c := l.ClaimN(1, 8, 1); c.Len() != 0 {
		t.Fatalf("full log: run of %d", c.Len())
	}
	l.Poll(12, func(uint32, []byte) {})
	take(l.ClaimN(1, 8, 1)) // loads the head: 12 records free
	l.Commit()
	l.Poll(0, func(uint32, []byte) {}) // the head moves on; the cache stays
	c := take(l.ClaimN(1, 8, 100))     // from offset 16: 15 to the end, 11 by the stale head
	if c.Len() != 15 {
		t.Fatalf("run of %d, want the 15 before the end (the head reloaded)", c.Len())
	}
	l.Commit()
	l.Poll(0, func(uint32, []byte) {})
	take(l.ClaimN(1, 8, 1)) // offset 0 again
	l.Commit()
	l.Poll(0, func(uint32, []byte) {})
	if c := take(l.ClaimN(1, 16, 100)); c.Len() != 10 { // 24-byte records from offset 16: 10 before the end
		t.Fatalf("run of %d, want the 10 before the end", c.Len())
	}
}

// take takes every record of c with At, as a loop that fills them does.
func take(c Claims) Claims {
	for i := range c.Len() {
		c.At(i)
	}
	return c
}

func logClaimNBad(t *testing.T) {
	l := newLog(t, 256)
	for _, tc := range []struct {
		typ  uint32
		n, k int
	}{{1, 8, 0}, {1, 8, -1}, {1, -1, 4}, {1, l.MaxRecord() + 1, 4}, {PaddingType, 8, 4}, {MaxRecordType + 1, 8, 4}} {
		if c := l.ClaimN(tc.typ, tc.n, tc.k); c.Len() != 0 || c.At(0) != nil {
			t.Errorf("ClaimN(%d, %d, %d): run of %d", tc.typ, tc.n, tc.k, c.Len())
		}
	}
	c := take(l.ClaimN(1, 8, 3))
	if c.At(-1) != nil || c.At(3) != nil || c.At(2) == nil {
		t.Error("At outside 0…Len()-1 not nil, or inside nil")
	}
	take(l.ClaimN(1, 8, 13)) // full
	l.Commit()
	l.Poll(12, func(uint32, []byte) {})
	take(l.ClaimN(1, 8, 1)) // loads the head: 12 records free
	l.Commit()
	l.Poll(0, func(uint32, []byte) {})
	*l.headP = 5 // a consumer's corrupt head, seen when the cached one is short
	if c := l.ClaimN(1, 8, 100); c.Len() != 1 || !errors.Is(l.ProducerErr(), ErrCorrupt) {
		t.Fatalf("corrupt head: run of %d, ProducerErr %v", c.Len(), l.ProducerErr())
	}
	if c := l.ClaimN(1, 8, 1); c.Len() != 0 {
		t.Fatal("claimed after the fault")
	}
}

func logClaimNRecords(t *testing.T) {
	l := newLog(t, 1024)
	recs, err := RecordsOf[msg56](l, 3)
	if err != nil {
		t.Fatal(err)
	}
	var sent, got uint64
	for round := range 50 {
		c := recs.ClaimN(5)
		if c.Len() == 0 || c.At(c.Len()) != nil || c.At(-1) != nil {
			t.Fatalf("round %d: run of %d", round, c.Len())
		}
		for i := range c.Len() {
			*c.At(i) = msg56{Seq: sent}
			sent++
		}
		l.Commit()
		l.Poll(0, func(typ uint32, b []byte) {
			if p := recs.Of(typ, b); p == nil || p.Seq != got {
				t.Fatalf("round %d: record %v, want seq %d", round, p, got)
			}
			got++
		})
	}
	if got != sent {
		t.Fatalf("received %d of %d", got, sent)
	}
}

func logClaimNZeroAllocs(t *testing.T) {
	l := newLog(t, 4096)
	recs, _ := RecordsOf[msg56](l, 3)
	src := make([]byte, 40)
	allocs := testing.AllocsPerRun(100, func() {
		c := l.ClaimN(1, len(src), 8)
		for i := range c.Len() {
			copy(c.At(i), src)
		}
		r := recs.ClaimN(4)
		for i := range r.Len() {
			r.At(i).Seq = 1
		}
		l.Commit()
		l.Poll(0, func(uint32, []byte) {})
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per batch", allocs)
	}
}

// FuzzLogClaimN drives ClaimN with arbitrary sizes and counts while a
// hostile consumer writes arbitrary heads: every run it returns lies inside
// the record area, at 8-byte-aligned records, and nothing panics.
func FuzzLogClaimN(f *testing.F) {
	f.Add([]byte{8, 3, 0, 40, 64, 1, 0, 200, 7, 2})
	f.Add([]byte{255, 255, 255, 1, 1, 1, 16, 16, 0})
	f.Fuzz(func(t *testing.T, ops []byte) {
		l := newLog(t, 256)
		lo := uintptr(unsafe.Pointer(unsafe.SliceData(l.data)))
		hi := lo + uintptr(len(l.data))
		for i := 0; i+2 < len(ops); i += 3 {
			n, k := int(ops[i])%80-4, int(ops[i+1])%40-2
			switch ops[i+2] % 4 {
			case 0: // a hostile head
				*l.headP = uint64(ops[i+2]) * uint64(ops[i]+1)
			case 1:
				l.Poll(0, func(uint32, []byte) {})
			}
			c := l.ClaimN(uint32(ops[i+2]%3), n, k)
			for j := range c.Len() {
				b := c.At(j)
				p := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
				if len(b) != n || p < lo+RecordHeaderLength || p+uintptr(n) > hi || (p-lo)%recordAlign != RecordHeaderLength%recordAlign {
					t.Fatalf("run record %d of %d: %d bytes at offset %d", j, c.Len(), len(b), p-lo)
				}
				for x := range b {
					b[x] = 0xA5
				}
			}
			l.Commit()
		}
	})
}
