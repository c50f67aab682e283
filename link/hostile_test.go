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
	// Scribble over the victim's call slots, many times,
	// and ring its doorbell (and every other bit in its word).
	rng := rand.New(rand.NewPCG(7, 8))
	a := victim.cur
	for range 200 {
		for k := range a.ring.depth {
			region := unsafe.Slice((*byte)(a.ring.slot(k)), int(a.ring.size))
			for i := range region {
				region[i] = byte(rng.Uint32())
			}
		}
		atomic.StoreUint64(a.bell, ^uint64(0))
		time.Sleep(50 * time.Microsecond)
	}
	wg.Wait()
	if failures.Load() != 0 {
		t.Fatalf("%d other clients failed", failures.Load())
	}
	// The victim was dropped (and, being a Conn, reconnected by itself —
	// into a slot the scribbler may have hit again).
	if st := s.Stats(); st.Dropped < 1 {
		t.Fatalf("stats %+v", st)
	}
}

// TestServerDeath: a call in flight when the server dies ends in
// ErrPeerGone; with FailFast, so does a call made while the Conn
// reconnects; once a server is back, the Conn reconnects by itself and
// calls succeed again.
func TestServerDeath(t *testing.T) {
	dir := t.TempDir()
	cmd, lines, _ := child(t, "server", dir, nil, "")
	expectLine(t, lines, "READY")
	var states []State
	var mu sync.Mutex
	c, err := Dial[req, resp]("t", DialOptions{Dir: dir, FailFast: true, OnState: func(s State, err error) {
		if err == nil {
			mu.Lock()
			states = append(states, s)
			mu.Unlock()
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var r resp
	if err := c.Call(time.Now().Add(5*time.Second), &req{A: 1, B: 1}, &r); err != nil || r.Sum != 2 {
		t.Fatal(err, r)
	}
	epoch := c.Epoch()
	// A call in flight: the child's handler is fast, so kill first and
	// call at once; either way the answer is ErrPeerGone, never silence.
	cmd.Process.Kill()
	cmd.Wait()
	err = c.Call(time.Now().Add(10*time.Second), &req{}, &r)
	if !errors.Is(err, ErrPeerGone) {
		t.Fatalf("call to a dead server: %v", err)
	}
	for end := time.Now().Add(time.Second); c.State() != Reconnecting; {
		if time.Now().After(end) { // the death watch sets it right after the flag
			t.Fatalf("state %v", c.State())
		}
		time.Sleep(100 * time.Microsecond)
	}
	// A new server: the Conn comes back by itself.
	_, lines, _ = child(t, "server", dir, nil, "")
	expectLine(t, lines, "READY")
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := c.Call(time.Now().Add(5*time.Second), &req{A: 2, B: 3}, &r)
		if err == nil && r.Sum == 5 {
			break
		}
		if !errors.Is(err, ErrPeerGone) || time.Now().After(deadline) {
			t.Fatalf("after restart: %v %+v", err, r)
		}
		time.Sleep(time.Millisecond)
	}
	if c.Epoch() == epoch || c.State() != Connected {
		t.Fatalf("epoch %d → %d, state %v", epoch, c.Epoch(), c.State())
	}
	// The redial goroutine reports Connected just after it installs the
	// attachment, so a call may succeed before OnState has heard of it.
	lastConnected := func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(states) > 0 && states[len(states)-1] == Connected
	}
	waitFor(5*time.Second, lastConnected)
	mu.Lock()
	defer mu.Unlock()
	if len(states) < 2 || states[0] != Reconnecting || states[len(states)-1] != Connected {
		t.Fatalf("state changes %v", states)
	}
}

// TestCallWaitsForReconnect: without FailFast, a call made while the Conn
// reconnects waits for the new server (or its deadline).
func TestCallWaitsForReconnect(t *testing.T) {
	dir := t.TempDir()
	cmd, lines, _ := child(t, "server", dir, nil, "")
	expectLine(t, lines, "READY")
	c := dial(t, dir)
	cmd.Process.Kill()
	cmd.Wait()
	for !c.cur.dead.Load() { // the death watch has run
		time.Sleep(100 * time.Microsecond)
	}
	var r resp
	if err := c.Call(time.Now().Add(20*time.Millisecond), &req{}, &r); !errors.Is(err, ErrTimeout) {
		t.Fatalf("no server, short deadline: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- c.Call(time.Now().Add(20*time.Second), &req{A: 7}, &r) }()
	time.Sleep(20 * time.Millisecond)
	_, lines, _ = child(t, "server", dir, nil, "")
	expectLine(t, lines, "READY")
	if err := <-done; err != nil || r.Sum != 7 {
		t.Fatalf("call across the restart: %v %+v", err, r)
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
