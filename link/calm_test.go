package link

import (
	"sync"
	"testing"
	"time"
)

// TestCalmUnderOutage: while the server is down, a Conn keeps trying with
// growing gaps, and OnState hears of the failures once per change of
// error, not once per attempt; it hears of the server's return once.
func TestCalmUnderOutage(t *testing.T) {
	dir := t.TempDir()
	s := serveAs(t, "t", Options{Dir: dir}, add)
	var mu sync.Mutex
	failures, connected := 0, 0
	c, err := Dial[req, resp]("t", DialOptions{Dir: dir, OnState: func(st State, err error) {
		mu.Lock()
		defer mu.Unlock()
		switch {
		case err != nil:
			failures++
		case st == Connected:
			connected++
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	callOK(t, c, 1)
	s.Close()
	if !waitFor(10*time.Second, func() bool { return c.Stats().Attempts >= 6 }) {
		t.Fatalf("%d attempts", c.Stats().Attempts)
	}
	mu.Lock()
	f := failures
	mu.Unlock()
	if f < 1 || f > 2 {
		t.Fatalf("%d failure reports over %d attempts", f, c.Stats().Attempts)
	}
	serveAs(t, "t", Options{Dir: dir}, add)
	if !waitFor(10*time.Second, func() bool { mu.Lock(); defer mu.Unlock(); return connected == 1 }) {
		t.Fatal("no Connected report after the server came back")
	}
	callOK(t, c, 2)
}

// recorder counts latency samples.
type recorder struct{ n, bad int }

// Record counts a sample and whether it is out of range. 0 is in range:
// a call shorter than one tick of the clock reads 0 (arm64's generic
// timer, as qemu-user gives it, may tick once per tens of nanoseconds).
func (r *recorder) Record(ns int64) {
	r.n++
	if ns < 0 || ns > int64(10*time.Second) {
		r.bad++
	}
}

// TestLatencySampling: one Call in LatencyEvery is timed and recorded.
func TestLatencySampling(t *testing.T) {
	_, dir := serve(t, Options{})
	rec := &recorder{}
	c, err := Dial[req, resp]("t", DialOptions{Dir: dir, Latency: rec})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for k := range 10 * LatencyEvery {
		callOK(t, c, int64(k))
	}
	if rec.n != 10 || rec.bad != 0 {
		t.Fatalf("%d samples, %d out of range", rec.n, rec.bad)
	}
}
