package topic

import (
	"errors"
	"testing"
	"time"
)

// takeAll acquires until nothing is ready (each Acquire giving back the
// run before), checking each message is the next; it returns how many.
func takeAll(t *testing.T, s *Subscriber[tick], next *uint64) int {
	t.Helper()
	total := 0
	for n := s.Acquire(0); n > 0; n = s.Acquire(0) {
		for i := range n {
			if m := s.At(i); m.Seq != *next || m.Price != int64(m.Seq)*3 {
				t.Fatalf("got seq %d price %d, want seq %d", m.Seq, m.Price, *next)
			}
			*next++
		}
		total += n
	}
	return total
}

// TestAcquire: on a reliable topic Acquire hands out every message once,
// in order, in place, in runs that go on across the buffer's end; the
// publisher does not rewrite those held, however much it tries, and has
// the whole ring again once they are given back; no allocation.
func TestAcquire(t *testing.T) {
	p, s := reliableOne(t, 512)
	var next, seq uint64
	for range 100 { // the runs below start mid-buffer
		pub(p, seq)
		seq++
	}
	takeAll(t, s, &next)
	for range 5 {
		fill(p, &seq)
		n := s.Acquire(0)
		if end := next + uint64(n); n == 0 || end != seq { // all there are, across the buffer's end
			t.Fatalf("acquired %d from %d of %d", n, next, seq)
		}
		fill(p, &seq)
		for i := range n {
			if m := s.At(i); m == &s.msg || m.Seq != next+uint64(i) || m.Price != int64(m.Seq)*3 {
				t.Fatalf("message %d: %+v once the publisher filled the room (copy %v)", next+uint64(i), *m, m == &s.msg)
			}
		}
		s.Release(n)
		next += uint64(n)
	}
	takeAll(t, s, &next)
	if next != seq || s.Lag() != 0 || s.Position() != seq {
		t.Fatalf("read up to %d of %d, lag %d, position %d", next, seq, s.Lag(), s.Position())
	}
	for range 512 {
		if !pub(p, seq) {
			t.Fatalf("publish %d refused with every message released", seq)
		}
		seq++
	}
	if a := testing.AllocsPerRun(100, func() {
		for n := s.Acquire(0); n > 0; n = s.Acquire(0) {
			next += uint64(n)
		}
		pub(p, seq)
		seq++
	}); a != 0 {
		t.Fatalf("%v allocations per message", a)
	}
}

// TestAcquirePartly: a limit, a partial Release, a Poll after an
// Acquire — the position is always where the messages given back end.
func TestAcquirePartly(t *testing.T) {
	p, s := reliableOne(t, 64)
	for i := range uint64(40) {
		pub(p, i)
	}
	if n := s.Acquire(5); n != 5 || s.At(4).Seq != 4 || s.Position() != 5 || s.Stats().Received != 0 {
		t.Fatalf("limit 5: %d, position %d, given back %d", n, s.Position(), s.Stats().Received)
	}
	s.Release(2) // 0 and 1; 2, 3 and 4 are taken again
	if s.Position() != 2 || s.Stats().Received != 2 || !s.Ready() {
		t.Fatalf("after a partial release: position %d, given back %d", s.Position(), s.Stats().Received)
	}
	if n := s.Acquire(3); n != 3 || s.At(0).Seq != 2 || s.Position() != 5 {
		t.Fatalf("after a partial release: %d, first %d, position %d", n, s.At(0).Seq, s.Position())
	}
	if n := s.Acquire(1); n != 1 || s.At(0).Seq != 5 {
		t.Fatalf("the next Acquire gave back 2…4: %d, first %d", n, s.At(0).Seq)
	}
	next := uint64(6)
	s.Poll(func(m *tick) { // gives back 5, then takes 6 and 7
		if m.Seq != next {
			t.Fatalf("Poll after Acquire: %d, want %d", m.Seq, next)
		}
		next++
	}, 2)
	s.Release(10) // nothing held: no move
	if takeAll(t, s, &next); next != 40 {
		t.Fatalf("up to %d of 40", next)
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Error("At outside the acquisition did not panic")
			}
		}()
		s.At(0)
	}()
}

// TestAcquireLossy: on a lossy topic Acquire takes one copy at a time,
// and a lapped subscriber counts exactly what it missed, as Poll does.
func TestAcquireLossy(t *testing.T) {
	p, dir := create(t, Options{Capacity: 8})
	s := subscribe(t, dir)
	for i := range uint64(20) {
		pub(p, i)
	}
	var got uint64
	last := int64(-1)
	for n := s.Acquire(0); n > 0; n = s.Acquire(0) {
		if m := s.At(0); n != 1 || m != &s.msg || int64(m.Seq) <= last {
			t.Fatalf("%d messages, %d after %d, copy %v", n, m.Seq, last, m == &s.msg)
		}
		last = int64(s.At(0).Seq)
		got++
	}
	if last != 19 || got+s.Lost() != 20 || s.Lost() == 0 {
		t.Fatalf("last %d, got %d, lost %d", last, got, s.Lost())
	}
}

// TestAcquireStops: an evicted subscriber's Acquire finds nothing and Err
// says why; a closed one's too, and At has nothing left to point at.
func TestAcquireStops(t *testing.T) {
	p, dir := create(t, Options{Capacity: 8, Policy: Reliable, StallTimeout: 5 * time.Millisecond,
		Logf: func(string, ...any) {}})
	good, stall := subscribe(t, dir), subscribe(t, dir)
	p.subs.scan()
	var next uint64
	for i := range uint64(40) {
		if err := p.Publish(&tick{Seq: i, Price: int64(i) * 3}); err != nil {
			t.Fatal(err)
		}
		drain(t, good, &next)
	}
	if n := stall.Acquire(0); n != 0 || !errors.Is(stall.Err(), ErrEvicted) {
		t.Fatalf("evicted: %d, %v", n, stall.Err())
	}

	p2, s := reliableOne(t, 8)
	for i := range uint64(4) {
		pub(p2, i)
	}
	if n := s.Acquire(0); n != 4 {
		t.Fatalf("acquired %d of 4", n)
	}
	s.Close()
	if n := s.Acquire(0); n != 0 || s.Err() != ErrClosed {
		t.Fatalf("closed: %d, %v", n, s.Err())
	}
	defer func() {
		if recover() == nil {
			t.Error("At after Close did not panic")
		}
	}()
	s.At(0)
}

// TestAcquireLatency: a subscriber recording latency gets a sample for
// each stamped message it acquires in place while its stamp stands.
func TestAcquireLatency(t *testing.T) {
	p, dir := create(t, Options{Capacity: 1024, Policy: Reliable})
	var got samples
	s, err := Subscribe[tick]("ticks", SubscribeOptions{Dir: dir, Latency: &got})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	p.subs.scan()
	var seq, next uint64
	for range 2*StampEvery + 1 { // 0, 256 and 512 stamped, taken while the stamp stands
		pub(p, seq)
		seq++
		takeAll(t, s, &next)
	}
	if next != seq || len(got) != 3 {
		t.Fatalf("read %d of %d, %d samples, want 3", next, seq, len(got))
	}
}
