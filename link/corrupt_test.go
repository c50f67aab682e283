package link

import (
	"errors"
	"sync"
	"testing"
	"time"
)

// stateLog records a Conn's OnState calls.
type stateLog struct {
	mu   sync.Mutex
	errs []error // the error of each call with Reconnecting
}

func (l *stateLog) on(s State, err error) {
	if s == Reconnecting {
		l.mu.Lock()
		l.errs = append(l.errs, err)
		l.mu.Unlock()
	}
}

func (l *stateLog) corrupt() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, err := range l.errs {
		if errors.Is(err, ErrCorrupt) {
			return true
		}
	}
	return false
}

// TestCorruptSlotRedials: a Conn that finds a value no correct server
// writes in its next slot returns ErrCorrupt, gives that attachment up —
// the server sees its socket close and frees the slot — tells OnState and
// redials; the next call succeeds on the new attachment.
func TestCorruptSlotRedials(t *testing.T) {
	s, dir := serve(t, Options{})
	var log stateLog
	c, err := Dial[req, resp]("t", DialOptions{Dir: dir, OnState: log.on})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	callOK(t, c, 1)
	a := c.cur
	r := a.ring
	p := r.jumpPos(a.sendPos) // where the next call goes: the first slot
	r.storeSeq(p, 2*p+5)      // neither free nor in flight
	var got resp
	if err := c.Call(time.Now().Add(5*time.Second), &req{A: 2}, &got); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("call on a corrupt slot: %v", err)
	}
	if !log.corrupt() {
		t.Fatalf("OnState was not told: %v", log.errs)
	}
	callOK(t, c, 3) // waits for the redial
	if c.cur == a {
		t.Fatal("the call used the corrupt attachment")
	}
	if st := c.Stats(); st.Corrupt != 1 || st.Redials != 1 {
		t.Fatalf("conn stats %+v", st)
	}
	if !waitFor(5*time.Second, func() bool { st := s.Stats(); return st.Conns == 1 && st.Closed == 1 }) {
		t.Fatalf("the server kept the given-up connection: %+v", s.Stats())
	}
}

// TestForgedResponseRefused: a response written into a call's slot by
// someone other than the server — here with the id the call was sent
// with, as a forger who knows ids are sequential would write it — lacks
// the attachment's tag: the call refuses it (ErrCorrupt) rather than
// return it, and the Conn redials.
func TestForgedResponseRefused(t *testing.T) {
	dir := t.TempDir()
	started, release := make(chan struct{}, 1), make(chan struct{})
	serveAs(t, "t", Options{Dir: dir}, func(q *req, r *resp) {
		if q.Seq == 99 {
			started <- struct{}{}
			<-release // the call stays in flight while the forger writes
		}
		add(q, r)
	})
	c := dial(t, dir)
	callOK(t, c, 1)
	r, id := c.cur.ring, c.cur.nextID+1
	result := make(chan error, 1)
	var got resp
	go func() { result <- c.Call(time.Now().Add(10*time.Second), &req{A: 1, Seq: 99}, &got) }()
	<-started
	var p uint64 // the position in flight: its slot's sequence is 2p+1
	for k := range r.depth {
		if sq := r.loadSeq(k); sq%2 == 1 {
			p = (sq - 1) / 2
		}
	}
	*(*resp)(r.slot(p)) = resp{Sum: -1, Seq: 99}
	*r.id(p) = id
	r.answer(p)
	err := <-result
	close(release)
	if !errors.Is(err, ErrCorrupt) || got.Sum == -1 {
		t.Fatalf("forged response: %v, %+v", err, got)
	}
	callOK(t, c, 5)
	if st := c.Stats(); st.Corrupt != 1 {
		t.Fatalf("conn stats %+v", st)
	}
}

// slotNeverFrees is a server that never serves (no Serve) and a Conn whose
// two call slots hold one-way messages: a Call finds no free slot.
func slotNeverFrees(t *testing.T) (*Server[req, resp], *Conn[req, resp]) {
	t.Helper()
	dir := t.TempDir()
	s, err := Listen[req, resp]("t", Options{Dir: dir, Depth: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	c := dial(t, dir)
	for range 2 {
		if err := c.Publish(&req{}); err != nil {
			t.Fatal(err)
		}
	}
	return s, c
}

// parkedCall starts a Call with no deadline on c and waits until it has
// parked (ConnStats.Parks), checking that it has not returned.
func parkedCall(t *testing.T, c *Conn[req, resp]) <-chan error {
	t.Helper()
	parks := c.Stats().Parks
	done := make(chan error, 1)
	go func() {
		var r resp
		done <- c.Call(time.Time{}, &req{A: 1}, &r)
	}()
	if !waitFor(5*time.Second, func() bool { return c.Stats().Parks > parks }) {
		t.Fatal("the call did not park")
	}
	select {
	case err := <-done:
		t.Fatalf("the call returned: %v", err)
	default:
	}
	return done
}

// wantReturn waits for a parked call's error.
func wantReturn(t *testing.T, done <-chan error, want error) {
	t.Helper()
	select {
	case err := <-done:
		if !errors.Is(err, want) {
			t.Fatalf("the parked call returned %v, want %v", err, want)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the parked call did not return")
	}
}

// TestCallWithoutDeadlineParks: a Call with no deadline whose slot never
// frees, or whose response never comes, spins for SpinFor and then parks
// — it does not spin for ever — and returns when the Conn is closed (from
// another goroutine) or the server dies.
func TestCallWithoutDeadlineParks(t *testing.T) {
	t.Run("no_slot/close", func(t *testing.T) {
		_, c := slotNeverFrees(t)
		done := parkedCall(t, c)
		c.Close()
		wantReturn(t, done, ErrClosed)
		if err := c.Publish(&req{}); err != ErrClosed {
			t.Fatalf("after Close: %v", err)
		}
	})
	t.Run("no_slot/server_dies", func(t *testing.T) {
		s, c := slotNeverFrees(t)
		done := parkedCall(t, c)
		s.Close()
		wantReturn(t, done, ErrPeerGone)
	})
	t.Run("no_response/close", func(t *testing.T) {
		dir, release := t.TempDir(), make(chan struct{})
		serveAs(t, "t", Options{Dir: dir}, func(q *req, r *resp) { <-release; add(q, r) })
		defer close(release) // before the server's Close (a cleanup)
		c := dial(t, dir)
		done := parkedCall(t, c)
		c.Close()
		wantReturn(t, done, ErrClosed)
	})
}
