package spin

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spinwire/spinwire/layout"
)

func newLog(tb testing.TB, capacity int) *Log {
	tb.Helper()
	n, err := LogLength(capacity)
	if err != nil {
		tb.Fatal(err)
	}
	l, err := NewLog(region(tb, n), capacity)
	if err != nil {
		tb.Fatal(err)
	}
	return l
}

func payload(seq uint64, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(seq*31 + uint64(i))
	}
	return b
}

func TestLog(t *testing.T) {
	t.Run("records_arrive_in_order_with_their_types", logRecordsArriveInOrderWithTheirTypes)
	t.Run("claim_commit_abort", logClaimCommitAbort)
	t.Run("bad_claims_get_nil", logBadClaimsGetNil)
	t.Run("try_write_every_size_and_path", logTryWriteEverySizeAndPath)
	t.Run("full_log_refuses_then_recovers", logFullLogRefusesThenRecovers)
	t.Run("random_sizes_wrap_with_padding_keep_order", logRandomSizesWrapWithPaddingKeepOrder)
	t.Run("two_goroutines_with_parking", logTwoGoroutinesWithParking)
	t.Run("zero_allocs", logZeroAllocs)
}

func logRecordsArriveInOrderWithTheirTypes(t *testing.T) {
	l := newLog(t, 1024)
	if !l.TryWrite(7, []byte("hello")) || !l.TryWrite(9, nil) {
		t.Fatal("write refused")
	}
	var got []string
	n := l.Poll(0, func(typ uint32, b []byte) { got = append(got, string(rune('0'+typ))+string(b)) })
	if n != 2 || got[0] != "7hello" || got[1] != "9" {
		t.Fatalf("polled %d: %q", n, got)
	}
	if l.Len() != 0 || l.Ready() {
		t.Fatal("not drained")
	}
}

func logClaimCommitAbort(t *testing.T) {
	l := newLog(t, 256)
	b := l.Claim(5)
	if c := l.Claim(1); len(b) != 5 || len(c) != 1 || &c[0] == &b[0] {
		t.Fatal("claim")
	}
	copy(b, "abcde")
	l.Abort()
	if l.Ready() {
		t.Fatal("aborted record visible")
	}
	copy(l.Claim(3), "xyz")
	l.Commit()
	l.Commit() // nothing claimed
	l.Poll(1, func(typ uint32, b []byte) {
		if typ != DefaultRecordType || string(b) != "xyz" {
			t.Fatalf("got %d %q", typ, b)
		}
	})
}

func logBadClaimsGetNil(t *testing.T) {
	l := newLog(t, 256)
	if l.MaxRecord() != 32 || l.Capacity() != 256 {
		t.Fatalf("max %d cap %d", l.MaxRecord(), l.Capacity())
	}
	for _, c := range []struct {
		typ uint32
		n   int
	}{{1, 33}, {1, -1}, {PaddingType, 1}, {MaxRecordType + 1, 1}} {
		if l.ClaimType(c.typ, c.n) != nil {
			t.Errorf("claim type %d len %d accepted", c.typ, c.n)
		}
	}
}

// logTryWriteEverySizeAndPath sends every payload size from 0 to 80 bytes
// with TryWrite — through its call-free path, after a pending claim (which
// it publishes too) and across the end of the buffer — and refusals, each
// checked to leave nothing published.
func logTryWriteEverySizeAndPath(t *testing.T) {
	l := newLog(t, 1024) // max record 128
	var want [][]byte
	expect := func(b []byte) { want = append(want, b) }
	for n := 0; n <= 80; n++ {
		switch n % 3 {
		case 1: // a claim pending: TryWrite publishes both, in order
			c := payload(uint64(1000+n), 4)
			copy(l.Claim(4), c)
			expect(c)
		case 2: // refused, changing nothing
			if l.TryWrite(PaddingType, payload(1, n)) || l.TryWrite(MaxRecordType+1, payload(1, n)) ||
				l.TryWrite(1, make([]byte, l.MaxRecord()+1)) {
				t.Fatalf("bad write of %d bytes accepted", n)
			}
		}
		b := payload(uint64(n), n)
		if !l.TryWrite(uint32(1+n%4), b) {
			t.Fatalf("write of %d bytes refused", n)
		}
		expect(b)
		got := 0
		l.Poll(0, func(typ uint32, p []byte) {
			if !bytes.Equal(p, want[got]) {
				t.Fatalf("%d-byte write: record %d is %x, want %x", n, got, p, want[got])
			}
			got++
		})
		if got != len(want) || l.Ready() || l.ProducerErr() != nil {
			t.Fatalf("%d-byte write: polled %d of %d records (err %v)", n, got, len(want), l.ProducerErr())
		}
		want = want[:0]
	}
}

func logFullLogRefusesThenRecovers(t *testing.T) {
	l := newLog(t, 64) // max record 8: 16 bytes each, 4 fit
	for i := range 4 {
		if !l.TryWrite(1, payload(uint64(i), 8)) {
			t.Fatalf("write %d", i)
		}
	}
	if l.TryWrite(1, payload(4, 8)) {
		t.Fatal("write into full log")
	}
	l.Poll(1, func(uint32, []byte) {})
	if !l.TryWrite(1, payload(4, 8)) {
		t.Fatal("no room after poll")
	}
}

func logRandomSizesWrapWithPaddingKeepOrder(t *testing.T) {
	l := newLog(t, 4096)
	rng := rand.New(rand.NewPCG(3, 4))
	var sent, got uint64
	var sizes []int
	for sent < 50_000 {
		for range rng.IntN(10) {
			n := rng.IntN(l.MaxRecord() + 1)
			if !l.TryWrite(uint32(1+sent%5), payload(sent, n)) {
				break
			}
			sizes = append(sizes, n)
			sent++
		}
		l.Poll(rng.IntN(10), func(typ uint32, b []byte) {
			if typ != uint32(1+got%5) || !bytes.Equal(b, payload(got, sizes[got])) {
				t.Fatalf("record %d: type %d, %d bytes", got, typ, len(b))
			}
			got++
		})
	}
	if l.Err() != nil || l.ProducerErr() != nil {
		t.Fatal(l.Err(), l.ProducerErr())
	}
}

func logTwoGoroutinesWithParking(t *testing.T) {
	l := newLog(t, 1024)
	const n = 20_000
	var wg sync.WaitGroup
	var quit atomic.Bool // the consumer gave up: the producer's spin ends too
	wg.Go(func() {
		for i := uint64(0); i < n && !quit.Load(); {
			if l.TryWrite(1, payload(i, int(i%100))) {
				i++
			} else {
				runtime.Gosched() // the consumer may need this CPU
			}
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	var got uint64
	for got < n && time.Now().Before(deadline) {
		if l.Poll(0, func(_ uint32, b []byte) {
			if !bytes.Equal(b, payload(got, int(got%100))) {
				t.Errorf("record %d corrupt", got)
			}
			got++
		}) == 0 {
			l.Park(time.Millisecond)
		}
	}
	quit.Store(true)
	wg.Wait()
	if got != n {
		t.Fatalf("got %d of %d", got, n)
	}
}

func logZeroAllocs(t *testing.T) {
	l := newLog(t, 1024)
	src := payload(1, 64)
	fn := func(uint32, []byte) {}
	if a := testing.AllocsPerRun(1000, func() {
		l.TryWrite(1, src)
		l.Poll(0, fn)
	}); a != 0 {
		t.Fatalf("%v allocs", a)
	}
}

func TestLogSetup(t *testing.T) {
	for _, c := range []int{0, 32, 100, MaxLogCapacity * 2} {
		if _, err := LogLength(c); !errors.Is(err, ErrInvalidCapacity) {
			t.Errorf("capacity %d: %v", c, err)
		}
	}
	n, _ := LogLength(256)
	b := region(t, n)
	if _, err := NewLog(b[:n-1], 256); !errors.Is(err, ErrBadRegion) {
		t.Errorf("short: %v", err)
	}
	w, _ := NewLog(b, 256)
	w.TryWrite(3, []byte("x"))
	r, err := OpenLog(b)
	if err != nil {
		t.Fatal(err)
	}
	if r.Len() != 16 {
		t.Fatalf("Len %d", r.Len())
	}
	le := binary.LittleEndian
	for name, poke := range map[string]func(){
		"magic":    func() { b[0] ^= 1 },
		"version":  func() { le.PutUint32(b[LogVersionOffset:], LogVersion+1) },
		"capacity": func() { le.PutUint64(b[LogCapacityOffset:], 1<<20) },
		"huge":     func() { le.PutUint64(b[LogCapacityOffset:], 1<<40) },
		"odd":      func() { le.PutUint64(b[LogCapacityOffset:], 100) },
		"cursors":  func() { le.PutUint64(b[TailOffset:], 7) },
	} {
		NewLog(b, 256)
		poke()
		if _, err := OpenLog(b); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := OpenLog(b[:10]); err == nil {
		t.Error("short region accepted")
	}
}

func TestLogHostile(t *testing.T) {
	le := binary.LittleEndian
	for name, c := range map[string]struct {
		poke func(l *Log)
		want string
	}{
		"length_over_max":     {func(l *Log) { le.PutUint32(l.data[0:], 1000) }, "length"},
		"type_reserved":       {func(l *Log) { le.PutUint32(l.data[4:], 1<<31) }, "type"},
		"padding_wrong_size":  {func(l *Log) { le.PutUint32(l.data[4:], PaddingType) }, "length"},
		"record_beyond_tail":  {func(l *Log) { le.PutUint32(l.data[0:], 24) }, "length"},
		"tail_not_aligned":    {func(l *Log) { *l.tailP = 3 }, "producer position"},
		"tail_beyond_capcity": {func(l *Log) { *l.tailP = 1 << 30 }, "producer position"},
	} {
		t.Run(name, func(t *testing.T) {
			l := newLog(t, 256)
			l.TryWrite(1, []byte("ok"))
			c.poke(l)
			l.Poll(0, func(uint32, []byte) {})
			if err := l.Err(); !errors.Is(err, ErrCorrupt) || !bytes.Contains([]byte(err.Error()), []byte(c.want)) {
				t.Fatalf("Err = %v", err)
			}
			if l.Poll(0, func(uint32, []byte) { t.Fatal("delivered after corruption") }) != 0 {
				t.Fatal("polled after corruption")
			}
		})
	}
	t.Run("producer_sees_bad_head", func(t *testing.T) {
		l := newLog(t, 64)
		for l.TryWrite(1, []byte("12345678")) {
		}
		*l.headP = 5
		if l.TryWrite(1, nil) || !errors.Is(l.ProducerErr(), ErrCorrupt) {
			t.Fatalf("ProducerErr %v", l.ProducerErr())
		}
	})
}

// FuzzLogPoll fills a Log's records and cursors with arbitrary bytes: Poll
// must return (an error or records within the buffer), never panic or hang.
func FuzzLogPoll(f *testing.F) {
	f.Add([]byte{8, 0, 0, 0, 1, 0, 0, 0}, uint64(0), uint64(16))
	f.Add([]byte{56, 0, 0, 0, 0, 0, 0, 0}, uint64(0), uint64(64))
	f.Fuzz(func(t *testing.T, data []byte, head, tail uint64) {
		l := newLog(t, 64)
		copy(l.data, data)
		l.head, l.tailCache = head&^7, head&^7
		*l.tailP = tail
		for range 4 {
			l.Poll(0, func(_ uint32, b []byte) {
				if len(b) > l.MaxRecord() {
					t.Fatalf("record of %d bytes", len(b))
				}
			})
		}
	})
}

// TestLogBatch: records claimed one after another are invisible until the
// one Commit, which publishes them all, in order, padding included when
// the batch wraps; Abort drops them all.
func TestLogBatch(t *testing.T) {
	l := newLog(t, 256)
	for round := range 6 { // 6 × 3 × 16-byte records wrap the 256-byte log
		for i := range 3 {
			b := l.Claim(8)
			if b == nil {
				t.Fatalf("round %d: claim %d", round, i)
			}
			b[0] = byte(round*3 + i)
		}
		if l.Ready() {
			t.Fatal("claimed records visible before Commit")
		}
		l.Commit()
		var got []byte
		if n := l.Poll(0, func(_ uint32, b []byte) { got = append(got, b[0]) }); n != 3 {
			t.Fatalf("round %d: polled %d", round, n)
		}
		for i, v := range got {
			if v != byte(round*3+i) {
				t.Fatalf("round %d: %v", round, got)
			}
		}
	}
	l.Claim(8)
	l.Claim(8)
	l.Abort()
	l.Commit()
	if l.Ready() {
		t.Fatal("aborted batch visible")
	}
}

// TestPrefetchSpan: what Commit asks for after a batch is the stretch the
// next batch of the same size takes, never past the end of the buffer,
// the room the consumer's head leaves, or the bound (prefetchMost: 16 KiB
// after records of up to loneMax bytes, 4 KiB after larger ones).
func TestPrefetchSpan(t *testing.T) {
	const c = 1 << 16
	if prefetchMost(1032) != prefetchMax || prefetchMost(loneMax) != prefetchMax || prefetchMost(loneMax+8) != prefetchMaxLarge {
		t.Errorf("prefetchMost: %d, %d, %d", prefetchMost(1032), prefetchMost(loneMax), prefetchMost(loneMax+8))
	}
	for _, tc := range []struct {
		name              string
		tail, batch, head uint64
		wantIdx, wantN    uint64
	}{
		{"empty log", 4096, 4096, 4096, 4096, 4096},
		{"cut at the bound", 0, 32768, 0, 0, prefetchMax},
		{"cut at the buffer's end", 3*c - 100, 512, 3*c - 200, c - 100, 100},
		{"cut at the head's room", c + 1000, 4096, 1000 + 64, 1000, 64},
		{"no room", c + 1000, 4096, 1000, 1000, 0},
		{"one line", 5*c + 64, 64, 5 * c, 64, 64},
	} {
		if idx, n := prefetchSpan(tc.tail, tc.batch, tc.head, c, prefetchMax); idx != tc.wantIdx || n != tc.wantN {
			t.Errorf("%s: offset %d, %d bytes; want %d, %d", tc.name, idx, n, tc.wantIdx, tc.wantN)
		}
	}
}

// TestRecords: typed records round-trip through a Log beside byte
// records; Of refuses another type or size; RecordsOf refuses what a
// record cannot hold as a T; a full log gives nil; nothing allocates.
func TestRecords(t *testing.T) {
	l := newLog(t, 1024)
	recs, err := RecordsOf[msg56](l, 3)
	if err != nil {
		t.Fatal(err)
	}
	for round := range 40 { // 40 × 2 records of 64 and 16 bytes wrap the 1024-byte log
		m := recs.Claim()
		if m == nil {
			t.Fatalf("round %d: claim refused", round)
		}
		*m = msg56{}
		m.Seq = uint64(round)
		copy(l.ClaimType(4, 8), "bytes!!!")
		l.Commit()
		var got []uint64
		l.Poll(0, func(typ uint32, b []byte) {
			if p := recs.Of(typ, b); p != nil {
				got = append(got, p.Seq)
			} else if typ != 4 {
				t.Fatalf("round %d: record of type %d refused", round, typ)
			}
		})
		if len(got) != 1 || got[0] != uint64(round) {
			t.Fatalf("round %d: got %v", round, got)
		}
	}
	recordsTryWrite(t, l, recs)
	if recs.Of(4, make([]byte, 56)) != nil || recs.Of(3, make([]byte, 55)) != nil {
		t.Fatal("Of accepted another type or size")
	}
	if _, err := RecordsOf[*int](l, 3); !errors.Is(err, layout.ErrNotFixedLayout) {
		t.Errorf("a pointer type: %v", err)
	}
	if _, err := RecordsOf[[200]byte](l, 3); !errors.Is(err, ErrTooLarge) {
		t.Errorf("a T over MaxRecord: %v", err)
	}
	for _, typ := range []uint32{PaddingType, MaxRecordType + 1} {
		if _, err := RecordsOf[msg56](l, typ); err == nil {
			t.Errorf("type %d accepted", typ)
		}
	}
	if _, err := RecordsOf[msg56](nil, 3); err == nil {
		t.Error("a nil log accepted")
	}
	for recs.Claim() != nil { // fill the log
	}
	l.Abort()
	if a := testing.AllocsPerRun(100, func() {
		if m := recs.Claim(); m != nil {
			m.Seq = 1
		}
		l.Commit()
		l.Poll(0, func(typ uint32, b []byte) { _ = recs.Of(typ, b) })
	}); a != 0 {
		t.Fatalf("%v allocs", a)
	}
}

// recordsTryWrite sends Ts with Records.TryWrite into an empty log until
// it is full (across the end of its buffer), and reads them back.
func recordsTryWrite(t *testing.T, l *Log, recs Records[msg56]) {
	t.Helper()
	sent := uint64(0)
	for m := (msg56{Seq: 100}); recs.TryWrite(&m); m.Seq++ {
		sent++
	}
	if sent < uint64(l.Capacity()/64-1) { // one record's room may go to padding
		t.Fatalf("TryWrite took %d records of 64 bytes into %d bytes", sent, l.Capacity())
	}
	want := uint64(100)
	l.Poll(0, func(typ uint32, b []byte) {
		if p := recs.Of(typ, b); p == nil || *p != (msg56{Seq: want}) {
			t.Fatalf("record %d: type %d, %x", want, typ, b)
		}
		want++
	})
	if want != 100+sent {
		t.Fatalf("polled %d of %d", want-100, sent)
	}
}
