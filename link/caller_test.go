package link

import (
	"os"
	"sync/atomic"
	"testing"
	"time"
)

// TestServeCaller: the handler sees who called (this process's pid and
// uid, the connection's slot, its accept time), Server.Conns lists the
// connections, and a handler that closes its caller's connection drops it
// alone: that Conn redials, the other is untouched.
func TestServeCaller(t *testing.T) {
	dir := t.TempDir()
	s, err := Listen[req, resp]("t", Options{Dir: dir, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	var seen atomic.Int64
	done := make(chan error, 1)
	before := time.Now()
	go func() {
		done <- s.ServeCaller(func(c *Caller, q *req, r *resp) {
			if c.PID() == int32(os.Getpid()) && c.UID() == uint32(os.Getuid()) && !c.Since().Before(before.Add(-time.Second)) {
				seen.Add(1)
			}
			if q.A == -1 {
				c.Close("asked to")
			}
			r.Seq, r.Sum = q.Seq, q.A+q.B
		})
	}()
	defer func() { s.Close(); <-done }()
	a, b := dial(t, dir), dial(t, dir)
	callOK(t, a, 1)
	callOK(t, b, 2)
	if seen.Load() != 2 {
		t.Fatalf("%d calls saw their caller", seen.Load())
	}
	cs := s.Conns()
	if len(cs) != 2 || cs[0].PID != int32(os.Getpid()) || cs[0].Since.IsZero() || cs[0].Index == cs[1].Index {
		t.Fatalf("Conns: %+v", cs)
	}
	var r resp
	a.Call(time.Now().Add(5*time.Second), &req{A: -1, Seq: 9}, &r)
	if !waitFor(5*time.Second, func() bool { return a.Stats().Redials == 1 }) {
		t.Fatalf("the closed connection did not redial: %+v", a.Stats())
	}
	callOK(t, a, 3)
	callOK(t, b, 4)
	if st := b.Stats(); st.Redials != 0 {
		t.Fatalf("the other connection redialled: %+v", st)
	}
	if st := s.Stats(); st.Kicked != 1 || st.Dropped != 0 {
		t.Fatalf("server: %+v (want one kicked, none dropped for corruption)", st)
	}
	if err := s.ServeCaller(nil); err == nil {
		t.Fatal("nil handler accepted")
	}
}
