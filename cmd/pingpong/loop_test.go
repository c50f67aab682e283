package main

import (
	"testing"
)

// echoEnd answers every message at once: the measuring loops without a
// transport.
type echoEnd struct{ sent, told uint64 }

func (e *echoEnd) roundTrip(uint64) error { return nil }
func (e *echoEnd) stream(int, int) error  { return nil }
func (e *echoEnd) stop() error            { return nil }
func (e *echoEnd) window() int            { return 64 }

func (e *echoEnd) trySend(seq uint64) (bool, error) {
	e.sent = seq
	return true, nil
}

func (e *echoEnd) tryRecv() (uint64, bool, error) {
	if e.sent == e.told {
		return 0, false, nil
	}
	e.told = e.sent
	return e.sent, true, nil
}

// newTestLoop returns a loop over a fresh sample, as drive makes it.
func newTestLoop() (*loop, *sample) {
	s := &sample{hist: newHistogram(), cpus: [4]int{-1, -1, -1, -1}}
	return &loop{s: s, st: &roundState{}, cancel: func() {}}, s
}

// TestLoopsDoNotAllocate: a duty of the closed and of the open loop —
// round trip or sends and echoes, and recording each latency — allocates
// nothing.
func TestLoopsDoNotAllocate(t *testing.T) {
	c := testConfig("latency")
	c.Warmup = 10
	l, s := newTestLoop()
	lat := newLatencyLoop(l, c, &echoEnd{}, 1<<20, 0)
	if a := testing.AllocsPerRun(1000, func() { lat.duty() }); a != 0 {
		t.Errorf("latency duty: %v allocations", a)
	}
	// AllocsPerRun's 1001 calls: 10 warm-up round trips, then 991 measured.
	if n := s.hist.TotalCount(); n != 991 {
		t.Errorf("latency: %d recorded, want 991", n)
	}
	c = testConfig("rate")
	c.Rate = 1e9 // a message due at every call
	l, s = newTestLoop()
	rl := newRateLoop(l, c, &echoEnd{}, 1<<20, 0)
	if a := testing.AllocsPerRun(1000, func() { rl.duty() }); a != 0 {
		t.Errorf("rate duty: %v allocations", a)
	}
	if s.hist.TotalCount() == 0 || l.err != nil {
		t.Errorf("rate: %d recorded, error %v", s.hist.TotalCount(), l.err)
	}
}

// TestLoops_warm_up_then_n: each loop discards its warm-up, records n
// latencies and finishes, publishing its progress.
func TestLoops_warm_up_then_n(t *testing.T) {
	for _, mode := range []string{"latency", "rate"} {
		c := testConfig(mode)
		c.Warmup, c.Rate = 5, 1e9
		l, s := newTestLoop()
		duty := newLatencyLoop(l, c, &echoEnd{}, 100, 0).duty
		if mode == "rate" {
			duty = newRateLoop(l, c, &echoEnd{}, 100, 0).duty
		}
		for calls := 0; !l.finished; calls++ {
			if calls > 1e6 {
				t.Fatalf("%s: not finished after %d calls", mode, calls)
			}
			duty()
		}
		if l.err != nil || s.n != 100 || s.hist.TotalCount() != 100 || l.st.done.Load() != 100 || s.elapsed == 0 || s.short {
			t.Errorf("%s: err %v, n %d, recorded %d, done %d, elapsed %d, short %v",
				mode, l.err, s.n, s.hist.TotalCount(), l.st.done.Load(), s.elapsed, s.short)
		}
		if duty() != 0 {
			t.Errorf("%s: a finished loop still works", mode)
		}
	}
}
