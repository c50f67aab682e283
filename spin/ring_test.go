package spin

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/spinwire/spinwire/layout"
)

func TestRing(t *testing.T) {
	for _, p := range protocols {
		t.Run("proto="+p.String(), func(t *testing.T) {
			t.Run("publish_then_consume_in_order", func(t *testing.T) { ringPublishThenConsumeInOrder(t, p) })
			t.Run("full_ring_rejects_publish", func(t *testing.T) { ringFullRingRejectsPublish(t, p) })
			t.Run("claim_commit_is_zero_copy", func(t *testing.T) { ringClaimCommitIsZeroCopy(t, p) })
			t.Run("poll_respects_max", func(t *testing.T) { ringPollRespectsMax(t, p) })
			t.Run("wraparound_random_batches_keep_order", func(t *testing.T) { ringWraparoundRandomBatchesKeepOrder(t, p) })
			t.Run("long_backlogs_keep_order", func(t *testing.T) { ringLongBacklogsKeepOrder(t, p) })
			t.Run("two_goroutines_no_loss_no_dup", func(t *testing.T) { ringTwoGoroutinesNoLossNoDup(t, p) })
		})
	}
}

func ringPublishThenConsumeInOrder(t *testing.T, p Protocol) {
	r := newRing[msg64](t, 4, p)
	for i := range uint64(3) {
		if !r.TryPublish(&msg64{Seq: i}) {
			t.Fatalf("publish %d refused", i)
		}
	}
	if r.Len() != 3 {
		t.Fatalf("Len %d", r.Len())
	}
	for i := range uint64(3) {
		var got uint64
		if !r.TryConsume(func(m *msg64) { got = m.Seq }) || got != i {
			t.Fatalf("consume %d: got %d", i, got)
		}
	}
	if r.TryConsume(func(*msg64) { t.Fatal("consumed from empty ring") }) || r.Len() != 0 {
		t.Fatal("empty ring")
	}
}

func ringFullRingRejectsPublish(t *testing.T, p Protocol) {
	r := newRing[msg8](t, 4, p)
	for i := range 4 {
		if !r.TryPublish(&msg8{uint64(i)}) {
			t.Fatalf("publish %d refused", i)
		}
	}
	if r.TryPublish(&msg8{9}) || r.Claim() != nil {
		t.Fatal("publish into a full ring")
	}
	r.TryConsume(func(*msg8) {})
	if !r.TryPublish(&msg8{9}) {
		t.Fatal("no room after a consume")
	}
}

func ringClaimCommitIsZeroCopy(t *testing.T, p Protocol) {
	r := newRing[msg64](t, 2, p)
	m := r.Claim()
	if m == nil || r.Claim() != m {
		t.Fatal("claim")
	}
	m.Seq = 42
	if r.Ready() {
		t.Fatal("visible before commit")
	}
	r.Commit()
	r.Commit() // no claim: no-op
	if r.Len() != 1 {
		t.Fatalf("Len %d after one commit", r.Len())
	}
	n := r.Poll(10, func(m *msg64) {
		if m.Seq != 42 {
			t.Fatalf("seq %d", m.Seq)
		}
	})
	if n != 1 {
		t.Fatalf("polled %d", n)
	}
}

func ringPollRespectsMax(t *testing.T, p Protocol) {
	r := newRing[msg8](t, 8, p)
	for i := range 8 {
		r.TryPublish(&msg8{uint64(i)})
	}
	if n := r.Poll(3, func(*msg8) {}); n != 3 {
		t.Fatalf("Poll(3) = %d", n)
	}
	if n := r.Poll(0, func(*msg8) {}); n != 5 {
		t.Fatalf("Poll(0) = %d", n)
	}
}

func ringWraparoundRandomBatchesKeepOrder(t *testing.T, p Protocol) {
	ringRandomBatchesKeepOrder(t, p, 16, 20, 100_000)
}

// ringLongBacklogsKeepOrder: a consumer far behind its producer (where a
// Cursors ring reads ahead) still gets every message once, in order,
// whole, across the wrap and whatever max cuts its polls at.
func ringLongBacklogsKeepOrder(t *testing.T, p Protocol) {
	ringRandomBatchesKeepOrder(t, p, 128, 160, 50_000)
}

// ringRandomBatchesKeepOrder publishes total messages in bursts of up to
// burst and polls them with max up to burst, checking each message's
// sequence and body.
func ringRandomBatchesKeepOrder(t *testing.T, p Protocol, capacity, burst int, total uint64) {
	r := newRing[msg64](t, capacity, p)
	rng := rand.New(rand.NewPCG(uint64(capacity), uint64(p)))
	var sent, got uint64
	for sent < total {
		for range rng.IntN(burst) {
			if !r.TryPublish(&msg64{Seq: sent, Body: [6]uint64{sent * 3, 0, 0, 0, 0, sent ^ 0xff}}) {
				break
			}
			sent++
		}
		r.Poll(rng.IntN(burst), func(m *msg64) {
			if m.Seq != got || m.Body[0] != got*3 || m.Body[5] != got^0xff {
				t.Fatalf("got %d (body %d, %d), want %d", m.Seq, m.Body[0], m.Body[5], got)
			}
			got++
		})
	}
	r.Poll(0, func(m *msg64) { got++ })
	if got != sent || r.Err() != nil || r.ProducerErr() != nil {
		t.Fatalf("sent %d got %d err %v %v", sent, got, r.Err(), r.ProducerErr())
	}
}

// TestRingCursorsPollFreesEachStretch: a Cursors consumer frees what it
// has read before it reloads the tail, so a producer waiting for room
// gets it while the same Poll goes on reading.
func TestRingCursorsPollFreesEachStretch(t *testing.T) {
	r := newRing[msg8](t, 8, Cursors)
	for i := range 4 {
		r.TryPublish(&msg8{uint64(i)})
	}
	var heads []uint64
	n := r.Poll(0, func(m *msg8) {
		h, _ := r.Cursors()
		heads = append(heads, h)
		if m.Seq == 3 { // publish a second stretch while the first is read
			for i := range 4 {
				r.TryPublish(&msg8{uint64(4 + i)})
			}
		}
	})
	want := []uint64{0, 0, 0, 0, 4, 4, 4, 4}
	if n != 8 || fmt.Sprint(heads) != fmt.Sprint(want) {
		t.Fatalf("Poll = %d, shared head seen by each call %v, want 8, %v", n, heads, want)
	}
	if h, tl := r.Cursors(); h != 8 || tl != 8 {
		t.Fatalf("after Poll: head %d, tail %d; want 8, 8", h, tl)
	}
}

func ringTwoGoroutinesNoLossNoDup(t *testing.T, p Protocol) {
	r := newRing[msg64](t, 64, p)
	const n = 200_000
	var wg sync.WaitGroup
	var quit atomic.Bool // the consumer gave up: the producer's spin ends too
	wg.Go(func() {
		for i := uint64(0); i < n && !quit.Load(); {
			if r.TryPublish(&msg64{Seq: i}) {
				i++
			} else {
				runtime.Gosched() // the consumer may need this CPU
			}
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	var want uint64
	for want < n && time.Now().Before(deadline) {
		if r.Poll(0, func(m *msg64) {
			if m.Seq != want {
				t.Errorf("got %d want %d", m.Seq, want)
			}
			want++
		}) == 0 {
			runtime.Gosched()
		}
	}
	quit.Store(true)
	wg.Wait()
	if want != n {
		t.Fatalf("received %d of %d", want, n)
	}
}

func TestRingOpen(t *testing.T) {
	for _, p := range protocols {
		n, _, _ := RingLength[msg64](8, p)
		b := region(t, n)
		w, err := NewRing[msg64](b, RingOptions{Capacity: 8, Protocol: p})
		if err != nil {
			t.Fatal(err)
		}
		w.TryPublish(&msg64{Seq: 7})
		r, err := OpenRing[msg64](b)
		if err != nil {
			t.Fatal(err)
		}
		if r.Protocol() != p || r.Capacity() != 8 || r.Len() != 1 {
			t.Fatalf("opened %v cap %d len %d", r.Protocol(), r.Capacity(), r.Len())
		}
		var got uint64
		r.TryConsume(func(m *msg64) { got = m.Seq })
		if got != 7 {
			t.Fatalf("peer read %d", got)
		}
		if _, err := OpenRing[msg8](b); !errors.Is(err, layout.ErrLayoutMismatch) {
			t.Fatalf("other type: %v", err)
		}
	}
}

// tickA and tickB differ in one field's kind.
type tickA struct {
	Seq uint64
	Qty int32
	_   [4]byte
}

type tickB struct {
	Seq uint64
	Qty uint32
	_   [4]byte
}

// TestRingMismatchNamesTheField opens a ring with a T other than its
// creator's: the error names the field, the opener's side as "here".
func TestRingMismatchNamesTheField(t *testing.T) {
	n, _, _ := RingLength[tickA](4, InSlot)
	b := region(t, n)
	if _, err := NewRing[tickA](b, RingOptions{Capacity: 4}); err != nil {
		t.Fatal(err)
	}
	want := "layout: layout mismatch: ring spin.tickB: field Qty: uint32 at 8 (4 B) here, int32 at 8 (4 B) at the peer"
	_, err := OpenRing[tickB](b)
	var m *layout.MismatchError
	if !errors.As(err, &m) || !errors.Is(err, layout.ErrLayoutMismatch) || err.Error() != want {
		t.Fatalf("got  %v\nwant %s", err, want)
	}
	if m.Field != "Qty" || m.Ours != "uint32 at 8 (4 B)" || m.Theirs != "int32 at 8 (4 B)" {
		t.Fatalf("parts %+v", *m)
	}
	// A peer with more fields: ours lacks them.
	n64, _, _ := RingLength[msg64](4, InSlot)
	b64 := region(t, n64)
	if _, err := NewRing[msg64](b64, RingOptions{Capacity: 4}); err != nil {
		t.Fatal(err)
	}
	want = "layout: layout mismatch: ring spin.msg8: field Stamp: absent here, int64 at 8 (8 B) at the peer"
	if _, err := OpenRing[msg8](b64); err == nil || err.Error() != want {
		t.Fatalf("got  %v\nwant %s", err, want)
	}
	// An MPSC ring keeps its schema the same way.
	if _, err := NewMPSC[tickA](b, MPSCOptions{Capacity: 4}); err != nil {
		t.Fatal(err)
	}
	want = "layout: layout mismatch: MPSC ring spin.tickB: field Qty: uint32 at 8 (4 B) here, int32 at 8 (4 B) at the peer"
	if _, err := OpenMPSC[tickB](b); err == nil || err.Error() != want {
		t.Fatalf("got  %v\nwant %s", err, want)
	}
}

// TestRingMismatchHostileSchema spoils the creator's schema text and where
// block 0 says it is: the opener falls back to the two fingerprints.
func TestRingMismatchHostileSchema(t *testing.T) {
	le := binary.LittleEndian
	fps := "ring spin.tickB: fingerprint " + hex(layout.MustOf[tickB]().Fingerprint) +
		" here, fingerprint " + hex(layout.MustOf[tickA]().Fingerprint) + " at the peer"
	for _, c := range []struct {
		name string
		poke func(b []byte)
	}{
		{"no_text", func(b []byte) { le.PutUint32(b[RingSchemaLengthOffset:], 0) }},
		{"start_in_header", func(b []byte) { le.PutUint64(b[RingSchemaStartOffset:], 8) }},
		{"start_beyond_region", func(b []byte) { le.PutUint64(b[RingSchemaStartOffset:], 1<<63) }},
		{"length_beyond_region", func(b []byte) { le.PutUint32(b[RingSchemaLengthOffset:], maxRingSchema) }},
		{"length_huge", func(b []byte) { le.PutUint32(b[RingSchemaLengthOffset:], 1<<31) }},
		{"text_garbled", func(b []byte) { b[le.Uint64(b[RingSchemaStartOffset:])] = '!' }},
		{"text_is_ours", func(b []byte) {
			copy(b[le.Uint64(b[RingSchemaStartOffset:]):], layout.MustOf[tickB]().Encode())
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			n, _, _ := RingLength[tickA](4, InSlot)
			b := region(t, n)
			if _, err := NewRing[tickA](b, RingOptions{Capacity: 4}); err != nil {
				t.Fatal(err)
			}
			c.poke(b)
			_, err := OpenRing[tickB](b)
			var m *layout.MismatchError
			if !errors.As(err, &m) || m.Field != "" || !strings.HasSuffix(err.Error(), fps) {
				t.Fatalf("got  %v\nwant …%s", err, fps)
			}
		})
	}
}

func hex(v uint64) string { return fmt.Sprintf("%#016x", v) }

// FuzzRingSchema gives an opener whose T differs a schema text, and a
// start and length for it, that are arbitrary: the error is a layout
// mismatch, never a panic.
func FuzzRingSchema(f *testing.F) {
	f.Add(uint64(RingHeaderLength+4*64), uint32(40), layout.MustOf[tickA]().Encode())
	f.Add(uint64(0), uint32(0), []byte{})
	f.Add(uint64(RingHeaderLength), uint32(maxRingSchema), []byte("spinwire-schema 1 16 8 \"x\"\n"))
	n, _, _ := RingLength[tickA](4, InSlot)
	f.Fuzz(func(t *testing.T, start uint64, length uint32, text []byte) {
		b := region(t, n)
		if _, err := NewRing[tickA](b, RingOptions{Capacity: 4}); err != nil {
			t.Fatal(err)
		}
		copy(b[RingHeaderLength+4*64:], text)
		binary.LittleEndian.PutUint64(b[RingSchemaStartOffset:], start)
		binary.LittleEndian.PutUint32(b[RingSchemaLengthOffset:], length)
		if _, err := OpenRing[tickB](b); !errors.Is(err, layout.ErrLayoutMismatch) {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestRingRefusesBadSetup(t *testing.T) {
	b := region(t, 1<<16)
	for _, c := range []int{0, 1, 3, 6, MaxRingCapacity * 2, -4} {
		if _, err := NewRing[msg8](b, RingOptions{Capacity: c}); !errors.Is(err, ErrInvalidCapacity) || !strings.Contains(err.Error(), "capacity=") {
			t.Errorf("capacity %d: %v", c, err)
		}
	}
	if _, err := NewRing[msg8](b[:100], RingOptions{Capacity: 4}); !errors.Is(err, ErrBadRegion) {
		t.Errorf("short region: %v", err)
	}
	if _, err := NewRing[msg8](b[8:], RingOptions{Capacity: 4}); !errors.Is(err, ErrBadRegion) || !strings.Contains(err.Error(), "aligned") {
		t.Errorf("misaligned region: %v", err)
	}
	if _, err := NewRing[msg8](b, RingOptions{Capacity: 4, Protocol: 9}); !errors.Is(err, ErrBadRegion) {
		t.Errorf("bad protocol: %v", err)
	}
	if _, err := NewRing[struct{ P *int }](b, RingOptions{Capacity: 4}); !errors.Is(err, layout.ErrNotFixedLayout) {
		t.Errorf("bad type: %v", err)
	}
	if _, err := OpenRing[struct{ P *int }](b); !errors.Is(err, layout.ErrNotFixedLayout) {
		t.Errorf("bad type: %v", err)
	}
	if _, err := OpenRing[msg8](b[:10]); !errors.Is(err, ErrBadRegion) {
		t.Errorf("short: %v", err)
	}
}

// TestRingOpenHostileHeader writes every header field a peer controls with
// values no correct peer writes; OpenRing must refuse each with an error.
func TestRingOpenHostileHeader(t *testing.T) {
	le := binary.LittleEndian
	cases := []struct {
		name string
		poke func(b []byte)
	}{
		{"magic", func(b []byte) { b[0] ^= 1 }},
		{"version", func(b []byte) { le.PutUint32(b[RingVersionOffset:], 7) }},
		{"protocol", func(b []byte) { le.PutUint32(b[RingProtocolOffset:], 0) }},
		{"capacity_not_pow2", func(b []byte) { le.PutUint64(b[RingCapacityOffset:], 6) }},
		{"capacity_huge", func(b []byte) { le.PutUint64(b[RingCapacityOffset:], 1<<62) }},
		{"capacity_beyond_region", func(b []byte) { le.PutUint64(b[RingCapacityOffset:], 1<<20) }},
		{"stride", func(b []byte) { le.PutUint32(b[RingStrideOffset:], 8) }},
		{"msgsize", func(b []byte) { le.PutUint32(b[RingMsgSizeOffset:], 16) }},
		{"fingerprint", func(b []byte) { b[RingFingerprintOffset] ^= 1 }},
		// The cursors: only a Cursors ring has a tail in its header.
		{"cursors/tail_before_head", func(b []byte) { le.PutUint64(b[HeadOffset:], 5) }},
		{"cursors/tail_beyond_capacity", func(b []byte) { le.PutUint64(b[TailOffset:], 100) }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			proto := InSlot
			if strings.HasPrefix(c.name, "cursors/") {
				proto = Cursors
			}
			n, _, _ := RingLength[msg64](8, proto)
			b := region(t, n)
			if _, err := NewRing[msg64](b, RingOptions{Capacity: 8, Protocol: proto}); err != nil {
				t.Fatal(err)
			}
			c.poke(b)
			if _, err := OpenRing[msg64](b); err == nil {
				t.Fatal("accepted a hostile header")
			}
		})
	}
}

// TestRingReopenKnowsTail: a side that opens a ring in use starts from
// where the other left it — under InSlot, whose producer writes no tail,
// from the slots' sequences — at every fill level, across a lap.
func TestRingReopenKnowsTail(t *testing.T) {
	for _, p := range protocols {
		for _, fill := range []int{0, 1, 5, 8} {
			t.Run(fmt.Sprintf("proto=%v/fill=%d", p, fill), func(t *testing.T) {
				n, _, _ := RingLength[msg64](8, p)
				b := region(t, n)
				r, err := NewRing[msg64](b, RingOptions{Capacity: 8, Protocol: p})
				if err != nil {
					t.Fatal(err)
				}
				for i := range 11 { // a lap and a bit, consumed
					r.TryPublish(&msg64{Seq: uint64(i)})
					r.Poll(0, func(*msg64) {})
				}
				for i := range fill {
					r.TryPublish(&msg64{Seq: uint64(100 + i)})
				}
				pr, err := OpenRingProducer[msg64](b)
				if err != nil {
					t.Fatal(err)
				}
				if pr.tail != uint64(11+fill) || r.Len() != fill || pr.Len() != fill {
					t.Fatalf("tail %d, Len %d/%d; want %d, %d", pr.tail, r.Len(), pr.Len(), 11+fill, fill)
				}
				if ok := pr.TryPublish(&msg64{Seq: 7}); ok != (fill < 8) {
					t.Fatalf("publish into a ring holding %d: %v", fill, ok)
				}
			})
		}
	}
}

// TestRingHostileCursors corrupts live cursors and sequences: the side that
// reads them stops with ErrCorrupt, never reads outside the ring, never
// loops.
func TestRingHostileCursors(t *testing.T) {
	for _, p := range protocols {
		t.Run("proto="+p.String()+"/tail_jumps_ahead", func(t *testing.T) {
			r := newRing[msg64](t, 8, p)
			r.TryPublish(&msg64{})
			r.Poll(0, func(*msg64) {})
			*r.tailP = 1 << 40
			if p == InSlot {
				*r.seqP(r.head) = 1 << 40
			}
			if r.Poll(0, func(*msg64) { t.Fatal("consumed a forged message") }) != 0 {
				t.Fatal("polled")
			}
			if err := r.Err(); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Err = %v", err)
			}
			if r.TryConsume(func(*msg64) {}) || r.Ready() {
				t.Fatal("ring not stopped")
			}
		})
		t.Run("proto="+p.String()+"/head_runs_past_tail", func(t *testing.T) {
			r := newRing[msg8](t, 4, p)
			for range 4 {
				r.TryPublish(&msg8{})
			}
			*r.headP = 99
			if r.TryPublish(&msg8{}) || r.Claim() != nil {
				t.Fatal("published after corrupt head")
			}
			if err := r.ProducerErr(); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "consumer position") {
				t.Fatalf("ProducerErr = %v", err)
			}
			if r.Len() != 0 {
				t.Fatal("Len of corrupt cursors")
			}
		})
	}
	t.Run("proto=inslot/sequence_from_the_future", func(t *testing.T) {
		r := newRing[msg8](t, 4, InSlot)
		*r.seqP(0) = 3 // not 1 (ready) nor 0 (empty)
		if r.Ready() || !errors.Is(r.Err(), ErrCorrupt) {
			t.Fatalf("Err = %v", r.Err())
		}
	})
	t.Run("proto=inslot/random_sequences_never_panic", func(t *testing.T) {
		r := newRing[msg8](t, 4, InSlot)
		rng := rand.New(rand.NewPCG(2, 3))
		for range 10_000 {
			r.cfault = fault{}
			for s := range uint64(4) {
				*r.seqP(s) = rng.Uint64N(16)
			}
			r.head = rng.Uint64N(64)
			r.Poll(0, func(*msg8) {})
		}
	})
}

func TestRingZeroAllocs(t *testing.T) {
	for _, p := range protocols {
		r := newRing[msg64](t, 64, p)
		r.SetDemote(p == Cursors) // Commit demotes, with the real asm.Demote
		m := msg64{Seq: 1}
		var sum uint64
		fn := func(m *msg64) { sum += m.Seq }
		if a := testing.AllocsPerRun(1000, func() {
			r.TryPublish(&m)
			r.TryConsume(fn)
			c := r.Claim()
			c.Seq = 2
			r.Commit()
			r.Poll(8, fn)
		}); a != 0 {
			t.Fatalf("%v: %v allocs per publish+consume", p, a)
		}
	}
}

func TestParkWake(t *testing.T) {
	t.Run("publisher_to_spinning_consumer_makes_no_syscall", func(t *testing.T) {
		for _, p := range protocols {
			r := newRing[msg8](t, 1024, p)
			var wakes atomic.Int64
			futexWakeHook = func(*uint32) { wakes.Add(1) }
			defer func() { futexWakeHook = nil }()
			for i := range 1000 {
				r.TryPublish(&msg8{uint64(i)})
				r.Poll(0, func(*msg8) {})
			}
			if wakes.Load() != 0 || r.Wakes() != 0 {
				t.Fatalf("%v: %d wakes with no parked consumer", p, wakes.Load())
			}
		}
	})
	t.Run("park_returns_at_once_when_ready", func(t *testing.T) {
		r := newRing[msg8](t, 4, InSlot)
		r.TryPublish(&msg8{})
		r.Park(time.Hour) // must not sleep
		if atomic.LoadUint32(r.waitersP) != 0 {
			t.Fatal("waiters flag left set")
		}
	})
	t.Run("park_times_out", func(t *testing.T) {
		r := newRing[msg8](t, 4, InSlot)
		r.Park(time.Millisecond)
	})
	t.Run("parked_consumer_is_woken", func(t *testing.T) {
		r := newRing[msg8](t, 4, InSlot)
		done := make(chan struct{})
		go func() {
			for !r.Ready() {
				r.Park(0) // no timeout: only a wake ends it
			}
			close(done)
		}()
		for atomic.LoadUint32(r.waitersP) == 0 {
			time.Sleep(100 * time.Microsecond)
		}
		r.TryPublish(&msg8{})
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("consumer never woke")
		}
		if r.Wakes() != 1 {
			t.Fatalf("%d wakes", r.Wakes())
		}
	})
}

// TestParkWakeStress: a producer publishes in bursts with pauses while the
// consumer parks with no timeout whenever the ring is empty; a lost wake-up
// would leave the consumer asleep and the test would hit its deadline.
func TestParkWakeStress(t *testing.T) {
	if testing.Short() {
		t.Skip("stress test; skipped with -short")
	}
	fences := []bool{asymmetricFence}
	if asymmetricFence {
		fences = append(fences, false) // also the XCHG fallback
	}
	defer func(v bool) { asymmetricFence = v }(asymmetricFence)
	for _, fence := range fences {
		asymmetricFence = fence
		for _, p := range protocols {
			r := newRing[msg8](t, 8, p)
			const n = 50_000
			var got atomic.Uint64
			go func() {
				for got.Load() < n {
					if r.Poll(0, func(*msg8) { got.Add(1) }) == 0 {
						r.Park(0)
					}
				}
			}()
			rng := rand.New(rand.NewPCG(5, 6))
			deadline := time.Now().Add(30 * time.Second)
			for i := 0; i < n; {
				if time.Now().After(deadline) {
					t.Fatalf("%v: stuck at %d of %d: lost wake-up", p, got.Load(), n)
				}
				if r.TryPublish(&msg8{uint64(i)}) {
					i++
					if rng.IntN(64) == 0 {
						time.Sleep(time.Duration(rng.IntN(50)) * time.Microsecond)
					}
				}
			}
			for got.Load() < n {
				if time.Now().After(deadline) {
					t.Fatalf("%v: consumer stuck at %d of %d: lost wake-up", p, got.Load(), n)
				}
				time.Sleep(time.Millisecond)
			}
			t.Logf("%v, asymmetric fence %v: %d messages, %d wakes", p, fence, n, r.Wakes())
		}
	}
}

// FuzzOpenRing gives OpenRing a region whose header and slots are
// arbitrary bytes: it returns an error, or a ring whose Poll and
// TryPublish stay inside the region and return.
func FuzzOpenRing(f *testing.F) {
	n, _, _ := RingLength[msg64](4, InSlot)
	good := make([]byte, n)
	b := region(f, n)
	NewRing[msg64](b, RingOptions{Capacity: 4})
	copy(good, b)
	f.Add(good)
	f.Add(make([]byte, 64))
	f.Fuzz(func(t *testing.T, raw []byte) {
		b := region(t, n)
		copy(b, raw)
		r, err := OpenRing[msg64](b)
		if err != nil {
			return
		}
		for range 3 {
			r.Poll(0, func(*msg64) {})
			r.TryPublish(&msg64{})
			r.Len()
		}
	})
}

// msg248 is a message of several lines: with its sequence word, an
// in-slot slot of 256 bytes.
type msg248 struct {
	Seq  uint64
	Body [30]uint64
}

// TestRingDemote: a producer set to demote hands asm.Demote exactly the
// slots it publishes — a multi-line in-slot message after TryPublish,
// every slot of a Commit, in two stretches where the claim wraps — and
// nothing when it is not set, or for a one-line slot; every message still
// arrives in order.
func TestRingDemote(t *testing.T) {
	type stretch struct{ off, n int }
	var got []stretch
	defer func(f func(unsafe.Pointer, int)) { demoteLines = f }(demoteLines)
	for _, p := range protocols {
		r := newRing[msg248](t, 8, p)
		base := uintptr(r.slots)
		demoteLines = func(s unsafe.Pointer, n int) { got = append(got, stretch{int(uintptr(s) - base), n}) }
		stride := int(r.stride)
		var seen []uint64
		take := func(m *msg248) { seen = append(seen, m.Seq) }

		got = nil
		r.TryPublish(&msg248{Seq: 0}) // not set: nothing
		r.SetDemote(true)
		r.TryPublish(&msg248{Seq: 1})
		r.Poll(0, take)
		want := []stretch{{1 * stride, stride}}
		for i := range 5 { // positions 2..6
			r.TryPublish(&msg248{Seq: uint64(2 + i)})
			want = append(want, stretch{(2 + i) * stride, stride})
		}
		r.Poll(0, take)
		if n := r.ClaimN(4); n != 4 { // positions 7..10: slots 7, then 0..2
			t.Fatalf("%v: claimed %d", p, n)
		}
		for i := range 4 {
			r.Claimed(i).Seq = uint64(7 + i)
		}
		r.Commit()
		want = append(want, stretch{7 * stride, stride}, stretch{0, 3 * stride})
		r.Poll(0, take)
		if !slices.Equal(got, want) {
			t.Errorf("%v: demoted %v, want %v", p, got, want)
		}
		if len(seen) != 11 {
			t.Fatalf("%v: took %v", p, seen)
		}
		for i, s := range seen {
			if s != uint64(i) {
				t.Fatalf("%v: took %v", p, seen)
			}
		}

		one := newRing[msg56](t, 8, InSlot) // one line per slot: nothing to demote
		one.SetDemote(true)
		got = nil
		one.TryPublish(&msg56{})
		if len(got) != 0 {
			t.Errorf("a one-line slot demoted: %v", got)
		}
	}
}
