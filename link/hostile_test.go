package link

import (
	"errors"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"
)

// TestGarbageInOneClientsRings writes random bytes over one client's ring
// region while ten other clients call: the victim's connection is dropped
// (its calls end in an error), and the others lose nothing.
func TestGarbageInOneClientsRings(t *testing.T) {
	s, dir := serve(t, Options{})
	victim := dial(t, dir)
	var r resp
	if err := victim.Call(time.Now().Add(5*time.Second), &req{A: 1}, &r); err != nil {
		t.Fatal(err)
	}
	const others, calls = 10, 3000
	var wg sync.WaitGroup
	var failures atomic.Int64
	start := make(chan struct{})
	for i := range others {
		c := dial(t, dir)
		wg.Go(func() {
			<-start
			var r resp
			for k := range int64(calls) {
				err := c.Call(time.Now().Add(10*time.Second), &req{A: int64(i), B: k, Seq: uint64(k)}, &r)
				if err != nil || r.Sum != int64(i)+k || r.Seq != uint64(k) {
					failures.Add(1)
					t.Errorf("client %d call %d: %v %+v", i, k, err, r)
					return
				}
			}
		})
	}
	close(start)
	// Scribble over the victim's request and response rings, many times,
	// and ring its doorbell (and every other bit in its word).
	rng := rand.New(rand.NewPCG(7, 8))
	region := unsafe.Slice((*byte)(victim.req.base), int(victim.req.depth)*int(victim.req.stride+victim.resp.stride))
	for range 200 {
		for i := range region {
			region[i] = byte(rng.Uint32())
		}
		atomic.StoreUint64(victim.bell, ^uint64(0))
		time.Sleep(50 * time.Microsecond)
	}
	wg.Wait()
	if failures.Load() != 0 {
		t.Fatalf("%d other clients failed", failures.Load())
	}
	// The victim hears that its server dropped it.
	deadline := time.Now().Add(5 * time.Second)
	for !victim.dead.Load() && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	err := victim.Call(time.Now().Add(time.Second), &req{}, &r)
	if !errors.Is(err, ErrPeerGone) && !errors.Is(err, ErrCorrupt) {
		t.Fatalf("victim's call after the scribble: %v", err)
	}
	if st := s.Stats(); st.Dropped != 1 || st.Conns != others {
		t.Fatalf("stats %+v", st)
	}
}

// TestServerDeathFailsCalls: calls in flight when the server goes end in
// ErrPeerGone, promptly.
func TestServerDeath(t *testing.T) {
	dir := t.TempDir()
	cmd, lines, _ := child(t, "server", dir, nil, "")
	expectLine(t, lines, "READY")
	c := dial(t, dir)
	var r resp
	if err := c.Call(time.Now().Add(5*time.Second), &req{A: 1, B: 1}, &r); err != nil || r.Sum != 2 {
		t.Fatal(err, r)
	}
	cmd.Process.Kill()
	cmd.Wait()
	err := c.Call(time.Now().Add(10*time.Second), &req{}, &r)
	if !errors.Is(err, ErrPeerGone) {
		t.Fatalf("call to a dead server: %v", err)
	}
}

// TestClientDeathFreesSlot: when a client process dies its slot returns to
// the free list.
func TestClientDeathFreesSlot(t *testing.T) {
	s, dir := serve(t, Options{MaxConns: 1})
	cmd, lines, _ := child(t, "dial", dir, nil, "")
	if got := expectLine(t, lines, "RESULT"); got != "<nil>" {
		t.Fatal(got)
	}
	cmd.Wait()
	deadline := time.Now().Add(5 * time.Second)
	for s.Stats().Conns != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("slot not freed: %+v", s.Stats())
		}
		time.Sleep(time.Millisecond)
	}
	dial(t, dir) // the only slot is free again
}

// TestTimeoutThenRecover: a call to a server that does not answer in time
// ends in ErrTimeout; the late response is discarded, and the next call
// gets its own.
func TestTimeoutThenRecover(t *testing.T) {
	dir := t.TempDir()
	var slow atomic.Bool
	slow.Store(true)
	s, err := Listen[req, resp]("t", Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	go s.Serve(func(q *req, r *resp) {
		for slow.Load() {
			time.Sleep(time.Millisecond) // a stuck handler
		}
		add(q, r)
	})
	c := dial(t, dir)
	var r resp
	err = c.Call(time.Now().Add(20*time.Millisecond), &req{A: 1, Seq: 1}, &r)
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("err = %v", err)
	}
	slow.Store(false)
	if err := c.Call(time.Now().Add(5*time.Second), &req{A: 5, Seq: 2}, &r); err != nil || r.Seq != 2 || r.Sum != 5 {
		t.Fatalf("next call: %v %+v", err, r)
	}
}
