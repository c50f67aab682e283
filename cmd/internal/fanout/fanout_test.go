package fanout

import (
	"os"
	"testing"
	"time"

	"github.com/spinwire/spinwire/affinity"
	"github.com/spinwire/spinwire/asm"
	"github.com/spinwire/spinwire/topic"
)

func TestMain(m *testing.M) {
	ChildIfAsked()
	os.Exit(m.Run())
}

func config(t *testing.T, pol topic.Policy) Config {
	cpus, err := affinity.Allowed()
	if err != nil {
		t.Fatal(err)
	}
	c := Config{Subs: 3, Procs: 2, Policy: pol, N: 20000, Paced: 200, Gap: 5 * time.Microsecond,
		Dir: t.TempDir(), Timeout: 20 * time.Second}
	c.CPUs = [2]int{cpus[0], cpus[len(cpus)-1]}
	return c
}

// TestRun: under Reliable every subscription receives every message, and
// each paced one is timed once (at one subscription, in turn); the ring
// baseline likewise.
func TestRun(t *testing.T) {
	c := config(t, topic.Reliable)
	r, err := Run(c)
	if err != nil {
		t.Fatal(err)
	}
	if want := uint64(c.Subs * (c.N + c.Paced)); r.Received != want || r.Lost != 0 || r.Hist.TotalCount() != int64(c.Paced) || r.MsgsPerSec <= 0 {
		t.Fatalf("received %d of %d, lost %d, %d latencies, %.0f msgs/s", r.Received, want, r.Lost, r.Hist.TotalCount(), r.MsgsPerSec)
	}
	rr, err := RunRing(c)
	if err != nil {
		t.Fatal(err)
	}
	if rr.Received != uint64(c.N+c.Paced) || rr.Hist.TotalCount() != int64(c.Paced) {
		t.Fatalf("ring: received %d, %d latencies", rr.Received, rr.Hist.TotalCount())
	}
	lossy := config(t, topic.Lossy)
	r, err = Run(lossy)
	if err != nil {
		t.Fatal(err)
	}
	if r.Received+r.Lost != uint64(lossy.Subs*(lossy.N+lossy.Paced)) {
		t.Fatalf("lossy: received %d + lost %d", r.Received, r.Lost)
	}
}

// TestPaceTo: pacing waits for a deadline one gap ahead and returns it;
// a deadline far ahead (the counter went back) is given up at once for
// the counter's value now.
func TestPaceTo(t *testing.T) {
	gap := uint64(1000)
	next := asm.Ticks() + gap
	if got := paceTo(next, gap); got != next || asm.Ticks() < next {
		t.Fatalf("paceTo(%d) = %d, counter %d", next, got, asm.Ticks())
	}
	far := asm.Ticks() + 1<<62
	if got := paceTo(far, gap); got >= far || got > asm.Ticks() {
		t.Fatalf("paceTo(far ahead) = %d: waited for it, or not now", got)
	}
}
