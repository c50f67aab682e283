package link

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spinwire/spinwire/spin"
)

// deferServer serves "t" in dir: requests with A < 0 are deferred and
// their Deferred sent on held (never answered unless the test does);
// others with B == 1 are deferred and answered by a replier goroutine;
// the rest inline.
func deferServer(t *testing.T, dir string) (*Server[req, resp], chan Deferred) {
	t.Helper()
	// A poller that lets others run when idle: the replier goroutine and
	// the client's poller need a CPU, and a test host may have two, or one.
	s, err := Listen[req, resp]("t", Options{Dir: dir, Logf: t.Logf, Idler: func() spin.Idler { return testIdler{} }})
	if err != nil {
		t.Fatal(err)
	}
	held := make(chan Deferred, 4096)
	work := make(chan struct {
		d Deferred
		r resp
	}, 64)
	done := make(chan error, 1)
	go func() {
		done <- s.ServeCaller(func(c *Caller, q *req, r *resp) {
			switch {
			case q.A < 0:
				held <- c.Defer()
			case q.B == 1:
				work <- struct {
					d Deferred
					r resp
				}{c.Defer(), resp{Sum: q.A + q.B, Seq: q.Seq}}
			default:
				add(q, r)
			}
		})
	}()
	go func() {
		for w := range work {
			if err := s.Reply(w.d, &w.r); err != nil {
				t.Errorf("reply: %v", err)
			}
		}
	}()
	t.Cleanup(func() { s.Close(); <-done; close(work) })
	return s, held
}

// TestDeferredReply: calls deferred by the handler and answered from
// another goroutine come back to their callers, each exactly once, with no
// allocation per call; the server counts them.
func TestDeferredReply(t *testing.T) {
	dir := t.TempDir()
	s, _ := deferServer(t, dir)
	c := dial(t, dir)
	var q req
	var r resp
	for i := range int64(200) {
		q = req{A: i, B: 1, Seq: uint64(i)}
		if err := c.Call(time.Now().Add(5*time.Second), &q, &r); err != nil || r.Sum != i+1 || r.Seq != uint64(i) {
			t.Fatalf("call %d: %v %+v", i, err, r)
		}
	}
	q = req{A: 3, B: 1}
	allocs := testing.AllocsPerRun(50, func() {
		c.Call(time.Now().Add(5*time.Second), &q, &r)
	})
	if allocs != 0 {
		t.Fatalf("%.1f allocations per deferred call", allocs)
	}
	st := s.Stats()
	if st.Deferred != 251 || st.Replies != 251 || st.LateReplies != 0 {
		t.Fatalf("stats: %+v", st)
	}
}

// TestDeferredOutOfOrder: a call the handler holds does not hold back the
// calls after it. Its caller times out; later calls, answered inline, come
// back at once (out of order); the held call's late answer is accepted by
// the server and dropped by the client; a second answer is refused.
func TestDeferredOutOfOrder(t *testing.T) {
	dir := t.TempDir()
	s, held := deferServer(t, dir)
	c := dial(t, dir)
	var r resp
	if err := c.Call(time.Now().Add(20*time.Millisecond), &req{A: -1}, &r); !errors.Is(err, ErrTimeout) {
		t.Fatalf("held call: %v", err)
	}
	d := <-held
	// Calls go on in the other Depth−1 slots; the held call's slot is
	// reserved until it is answered.
	for i := range int64(3) {
		callOK(t, c, i)
	}
	if err := s.Reply(d, &resp{Sum: 666}); err != nil {
		t.Fatalf("late reply on a live connection: %v", err)
	}
	if err := s.Reply(d, &resp{Sum: 666}); !errors.Is(err, ErrReplied) {
		t.Fatalf("second reply: %v", err)
	}
	for i := range int64(10) {
		callOK(t, c, i) // the late answer is never taken for one of these
	}
	if st := s.Stats(); st.LateReplies != 1 || st.Replies != st.Deferred {
		t.Fatalf("stats: %+v", st)
	}
	if st := c.Stats(); st.Redials != 0 || st.Corrupt != 0 || st.Timeouts != 1 {
		t.Fatalf("client: %+v", st)
	}
}

// TestDeferredNeverAnswered: a handler that defers thousands of calls and
// answers none. Each caller times out; a Conn whose slots are all held by
// such calls gives the connection up and redials (ConnStats.Stuck), so it
// goes on working; another connection is not affected; a Reply for a
// connection that has gone is refused with ErrPeerGone and counted.
func TestDeferredNeverAnswered(t *testing.T) {
	dir := t.TempDir()
	s, held := deferServer(t, dir)
	bad, good := dial(t, dir), dial(t, dir)
	var r resp
	var timeouts atomic.Int64
	for i := range 2000 {
		err := bad.Call(time.Now().Add(200*time.Microsecond), &req{A: -1}, &r)
		switch {
		case errors.Is(err, ErrTimeout):
			timeouts.Add(1)
		case err != nil && !errors.Is(err, ErrPeerGone):
			t.Fatalf("call %d: %v", i, err)
		}
		if i%100 == 0 {
			callOK(t, good, int64(i))
		}
	}
	if timeouts.Load() == 0 || bad.Stats().Stuck == 0 {
		t.Fatalf("%d timeouts, client %+v", timeouts.Load(), bad.Stats())
	}
	// A generous bound: under -race with every package's tests running at
	// once on two CPUs, the redial can take seconds (the first call waits
	// out its deadline, then finds the Conn stuck and gives it up).
	if !waitFor(30*time.Second, func() bool { return bad.Call(time.Now().Add(time.Second), &req{A: 1}, &r) == nil && r.Sum == 1 }) {
		t.Fatalf("the stuck Conn did not recover: state %v, %+v", bad.State(), bad.Stats())
	}
	if st := good.Stats(); st.Redials != 0 || st.Stuck != 0 {
		t.Fatalf("the other connection: %+v", st)
	}
	// The oldest held calls belong to connections given up since.
	if err := s.Reply(<-held, &r); !errors.Is(err, ErrPeerGone) {
		t.Fatalf("reply to a gone connection: %v", err)
	}
	if st := s.Stats(); st.LateReplies != 1 || st.Deferred < 4 {
		t.Fatalf("server: %+v", st)
	}
	var zero Deferred
	if err := s.Reply(zero, &r); err != nil {
		t.Fatalf("zero Deferred: %v", err)
	}
}

// TestStuckWhileRedialling: a Conn gives up the attachment a redial has
// just installed, before that redial has finished (the caller took the
// attachment at once and found every slot held): it redials again and
// goes on working. The state said Connected before the attachment could
// be taken, so the caller's breakOff is the one that redials.
func TestStuckWhileRedialling(t *testing.T) {
	dir := t.TempDir()
	deferServer(t, dir)
	installed, proceed := make(chan struct{}, 2), make(chan struct{})
	c := dial(t, dir)
	hook := func(of any) {
		if of == c {
			installed <- struct{}{}
			<-proceed
		}
	}
	redialHook.Store(&hook)
	release := sync.OnceFunc(func() { close(proceed) })
	t.Cleanup(func() { redialHook.Store(nil); release() })
	var r resp
	makeStuck := func() {
		t.Helper()
		before := c.Stats().Stuck
		for i := 0; c.Stats().Stuck == before; i++ {
			if i == 100 {
				t.Fatalf("not stuck after %d held calls: %+v", i, c.Stats())
			}
			c.Call(time.Now().Add(200*time.Microsecond), &req{A: -1}, &r)
		}
	}
	makeStuck()
	<-installed // the redial waits in the hook, the new attachment in place
	makeStuck()
	release()
	if !waitFor(10*time.Second, func() bool { return c.Call(time.Now().Add(time.Second), &req{A: 1}, &r) == nil && r.Sum == 1 }) {
		t.Fatalf("no redial after the second stuck attachment: state %v, %+v", c.State(), c.Stats())
	}
	if st := c.Stats(); st.Stuck != 2 || st.Redials < 2 {
		t.Fatalf("client: %+v", st)
	}
}

// TestDeferOneWay: a one-way request has nothing to defer: Defer returns
// the zero Deferred and the slot is freed as usual.
func TestDeferOneWay(t *testing.T) {
	dir := t.TempDir()
	s, err := Listen[req, resp]("t", Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan Deferred, 16)
	go s.ServeCaller(func(c *Caller, q *req, r *resp) {
		if q.A == 7 {
			got <- c.Defer()
			got <- c.Defer() // twice: nothing more
			return
		}
		add(q, r)
	})
	defer s.Close()
	c := dial(t, dir)
	if err := c.Publish(&req{A: 7}); err != nil {
		t.Fatal(err)
	}
	if d := <-got; d.c != nil {
		t.Fatal("one-way request deferred")
	}
	<-got
	callOK(t, c, 1)
	if st := s.Stats(); st.Deferred != 0 {
		t.Fatalf("stats: %+v", st)
	}
}

// BenchmarkDeferredCall: a call answered inline against one the handler
// defers and another goroutine answers — handed over on a channel (the
// replier sleeps in the Go scheduler between calls) or through a word it
// spins on (a replier with a CPU of its own). Target: deferred p50 ≤ 1.5 ×
// inline; on a 2-CPU host the spinning replier shares a CPU with the
// client, so read the figures with the host's CPU count.
func BenchmarkDeferredCall(b *testing.B) {
	dir := b.TempDir()
	s, err := Listen[req, resp]("t", Options{Dir: dir})
	if err != nil {
		b.Fatal(err)
	}
	ch := make(chan Deferred, 1)
	var box struct {
		d    Deferred
		full atomic.Bool
	}
	var mode atomic.Int32 // 0 inline, 1 channel, 2 spin
	go s.ServeCaller(func(c *Caller, q *req, r *resp) {
		switch mode.Load() {
		case 1:
			ch <- c.Defer()
		case 2:
			box.d = c.Defer()
			box.full.Store(true)
		default:
			add(q, r)
		}
	})
	defer s.Close()
	stop := make(chan struct{})
	defer close(stop)
	go func() { // the channel replier
		r := resp{Sum: 3}
		for {
			select {
			case d := <-ch:
				if err := s.Reply(d, &r); err != nil {
					println("reply:", err.Error())
				}
			case <-stop:
				return
			}
		}
	}()
	go func() { // the spinning replier
		r := resp{Sum: 3}
		for i := 0; ; i++ {
			if box.full.Load() {
				d := box.d
				box.full.Store(false)
				s.Reply(d, &r)
			} else if i%1024 == 0 {
				select {
				case <-stop:
					return
				default:
				}
			}
		}
	}()
	c := dial(b, dir)
	q, r := &req{A: 1, B: 2}, &resp{}
	for i, name := range []string{"inline", "deferred=chan", "deferred=spin"} {
		b.Run("reply="+name, func(b *testing.B) {
			mode.Store(int32(i))
			d := time.Now().Add(time.Minute)
			for b.Loop() {
				if err := c.Call(d, q, r); err != nil || r.Sum != 3 {
					b.Fatal(err, r)
				}
			}
		})
	}
}
