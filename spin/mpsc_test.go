package spin

import (
	"errors"
	"runtime"
	"sync"
	"testing"
	"time"
)

func newMPSC[T any](tb testing.TB, capacity int) *MPSC[T] {
	tb.Helper()
	n, _, err := RingLength[T](capacity, InSlot)
	if err != nil {
		tb.Fatal(err)
	}
	q, err := NewMPSC[T](region(tb, n), MPSCOptions{Capacity: capacity})
	if err != nil {
		tb.Fatal(err)
	}
	return q
}

func TestMPSC(t *testing.T) {
	t.Run("concurrent_producers_lose_nothing_and_keep_their_order", mpscConcurrentProducersLoseNothingAndKeepTheirOrder)
	t.Run("full_ring_refuses", mpscFullRingRefuses)
	t.Run("producer_dead_mid_claim_is_skipped", mpscProducerDeadMidClaimIsSkipped)
	t.Run("hostile_sequence_is_corrupt", mpscHostileSequenceIsCorrupt)
	t.Run("open_validates", mpscOpenValidates)
	t.Run("park_and_wake", mpscParkAndWake)
	t.Run("zero_allocs", mpscZeroAllocs)
}

func mpscConcurrentProducersLoseNothingAndKeepTheirOrder(t *testing.T) {
	q := newMPSC[msg64](t, 64)
	const producers, each = 4, 50_000
	var wg sync.WaitGroup
	for p := range producers {
		wg.Go(func() {
			deadline := time.Now().Add(30 * time.Second)
			for i := uint64(0); i < each; {
				if q.TryPublish(&msg64{Seq: i, Stamp: int64(p)}) {
					i++
				} else if time.Now().After(deadline) {
					t.Errorf("producer %d stuck at %d", p, i)
					return
				} else {
					runtime.Gosched() // the consumer may need this CPU
				}
			}
		})
	}
	next := make([]uint64, producers)
	total := 0
	deadline := time.Now().Add(30 * time.Second)
	for total < producers*each && time.Now().Before(deadline) {
		k := q.Poll(0, func(m *msg64) {
			if m.Seq != next[m.Stamp] {
				t.Fatalf("producer %d: got %d want %d", m.Stamp, m.Seq, next[m.Stamp])
			}
			next[m.Stamp]++
		})
		if total += k; k == 0 {
			runtime.Gosched()
		}
	}
	wg.Wait()
	if total != producers*each || q.Skipped() != 0 || q.Err() != nil {
		t.Fatalf("received %d of %d, skipped %d, err %v", total, producers*each, q.Skipped(), q.Err())
	}
}

func mpscFullRingRefuses(t *testing.T) {
	q := newMPSC[msg8](t, 4)
	for i := range 4 {
		if !q.TryPublish(&msg8{uint64(i)}) {
			t.Fatal(i)
		}
	}
	if q.TryPublish(&msg8{}) || q.Len() != 4 {
		t.Fatal("publish into full ring")
	}
	q.Poll(1, func(*msg8) {})
	if !q.TryPublish(&msg8{}) {
		t.Fatal("no room after poll")
	}
}

func mpscProducerDeadMidClaimIsSkipped(t *testing.T) {
	q := newMPSC[msg8](t, 8)
	q.StuckTimeout = 5 * time.Millisecond
	var skippedAt []uint64
	q.OnSkip = func(p uint64) { skippedAt = append(skippedAt, p) }
	q.TryPublish(&msg8{1})
	_, dead, ok := q.Claim() // this producer "dies" here
	if !ok {
		t.Fatal("claim")
	}
	q.TryPublish(&msg8{3})
	var got []uint64
	deadline := time.Now().Add(10 * time.Second)
	for len(got) < 2 && time.Now().Before(deadline) {
		q.Poll(0, func(m *msg8) { got = append(got, m.Seq) })
	}
	if len(got) != 2 || got[0] != 1 || got[1] != 3 || q.Skipped() != 1 || len(skippedAt) != 1 || skippedAt[0] != 1 {
		t.Fatalf("got %v, skipped %d at %v", got, q.Skipped(), skippedAt)
	}
	if q.Commit(dead) {
		t.Fatal("a late commit of a skipped slot succeeded")
	}
	if q.Commit(MPSCClaim{}) {
		t.Fatal("empty claim committed")
	}
}

func mpscHostileSequenceIsCorrupt(t *testing.T) {
	q := newMPSC[msg8](t, 4)
	*q.seqP(0) = 77
	if q.Poll(0, func(*msg8) {}) != 0 || !errors.Is(q.Err(), ErrCorrupt) {
		t.Fatalf("Err %v", q.Err())
	}
	q2 := newMPSC[msg8](t, 4)
	q2.Claim()
	*q2.tailP = 1 << 50
	q2.Poll(0, func(*msg8) {})
	if !errors.Is(q2.Err(), ErrCorrupt) || q2.Ready() {
		t.Fatalf("Err %v", q2.Err())
	}
}

func mpscOpenValidates(t *testing.T) {
	n, _, _ := RingLength[msg8](8, InSlot)
	b := region(t, n)
	q, _ := NewMPSC[msg8](b, MPSCOptions{Capacity: 8})
	q.TryPublish(&msg8{5})
	o, err := OpenMPSC[msg8](b)
	if err != nil {
		t.Fatal(err)
	}
	if o.Poll(0, func(m *msg8) {
		if m.Seq != 5 {
			t.Fatal(m.Seq)
		}
	}) != 1 {
		t.Fatal("peer handle")
	}
	if _, err := OpenMPSC[msg64](b); err == nil {
		t.Fatal("other type accepted")
	}
	if _, err := OpenRing[msg8](b); err == nil {
		t.Fatal("an MPSC region opened as a Ring")
	}
	b[RingCapacityOffset] = 3
	if _, err := OpenMPSC[msg8](b); err == nil {
		t.Fatal("bad capacity accepted")
	}
	if _, err := NewMPSC[msg8](b, MPSCOptions{Capacity: 3}); !errors.Is(err, ErrInvalidCapacity) {
		t.Fatal(err)
	}
}

func mpscParkAndWake(t *testing.T) {
	q := newMPSC[msg8](t, 8)
	done := make(chan struct{})
	go func() {
		for q.Poll(0, func(*msg8) {}) == 0 {
			q.Park(0)
		}
		close(done)
	}()
	for *q.waitersP == 0 {
		time.Sleep(50 * time.Microsecond)
	}
	q.TryPublish(&msg8{})
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("not woken")
	}
	if q.Wakes() != 1 {
		t.Fatalf("wakes %d", q.Wakes())
	}
}

func mpscZeroAllocs(t *testing.T) {
	q := newMPSC[msg64](t, 8)
	m := msg64{}
	fn := func(*msg64) {}
	if a := testing.AllocsPerRun(1000, func() { q.TryPublish(&m); q.Poll(0, fn) }); a != 0 {
		t.Fatalf("%v allocs", a)
	}
}
