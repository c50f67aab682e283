package link

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spinwire/spinwire/layout"
	"github.com/spinwire/spinwire/spin"
)

type req struct {
	A, B int64
	Seq  uint64
	_    [8]byte
}

type resp struct {
	Sum int64
	Seq uint64
}

type reqV2 struct { // B is now a float64
	A   int64
	B   float64
	Seq uint64
	_   [8]byte
}

func add(q *req, r *resp) { r.Sum, r.Seq = q.A+q.B, q.Seq }

// testIdler is the test servers' idle strategy: an idle poll lets whatever
// else waits for this CPU run first — the test's own goroutines when there
// is one P (GOMAXPROCS 1: runtime.Gosched), other threads and processes
// otherwise (sched_yield) — so that a test keeps moving on a host with one
// CPU, or with its CPUs busy, instead of waiting out the poller's time
// slice for every exchange.
type testIdler struct{}

func (testIdler) Idle(work int) {
	switch {
	case work > 0:
	case runtime.GOMAXPROCS(0) == 1:
		runtime.Gosched()
	default:
		spin.Yield{}.Idle(0)
	}
}

func (testIdler) Reset() {}

// serve starts a server named "t" on a fresh directory (unless opts has
// one) and returns it and the directory; both are cleaned up with the
// test.
func serve(t testing.TB, opts Options) (*Server[req, resp], string) {
	t.Helper()
	if opts.Dir == "" {
		opts.Dir = t.TempDir()
	}
	return serveAs(t, "t", opts, add), opts.Dir
}

// serveAs starts a server of name with opts and handler, closed with the
// test.
func serveAs(t testing.TB, name string, opts Options, handler func(*req, *resp)) *Server[req, resp] {
	t.Helper()
	if opts.Logf == nil {
		opts.Logf = t.Logf
	}
	if opts.Idler == nil {
		opts.Idler = func() spin.Idler { return testIdler{} }
	}
	s, err := Listen[req, resp](name, opts)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(handler) }()
	t.Cleanup(func() {
		s.Close()
		if err := <-done; err != nil && !errors.Is(err, ErrClosed) {
			t.Error(err)
		}
	})
	return s
}

func dial(t testing.TB, dir string) *Conn[req, resp] {
	t.Helper()
	c, err := Dial[req, resp]("t", DialOptions{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestCall(t *testing.T) {
	_, dir := serve(t, Options{})
	c := dial(t, dir)
	for i := range int64(1000) {
		var r resp
		if err := c.Call(time.Now().Add(5*time.Second), &req{A: i, B: 2 * i, Seq: uint64(i)}, &r); err != nil {
			t.Fatal(err)
		}
		if r.Sum != 3*i || r.Seq != uint64(i) {
			t.Fatalf("call %d: %+v", i, r)
		}
	}
}

func TestPipeline(t *testing.T) {
	_, dir := serve(t, Options{Depth: 8})
	c := dial(t, dir)
	const n = 100_000
	sent, got := 0, 0
	// The bound is on a stall, not on the whole run: under -race on a
	// loaded host the run can take far longer than it does alone.
	last, seen := time.Now(), 0
	for got < n {
		if got != seen {
			last, seen = time.Now(), got
		} else if time.Since(last) > 10*time.Second {
			t.Fatalf("got %d of %d, none in the last 10 s", got, n)
		}
		for sent < n {
			if _, err := c.Send(&req{A: int64(sent), Seq: uint64(sent)}); err == ErrFull {
				break
			} else if err != nil {
				t.Fatal(err)
			}
			sent++
		}
		k, err := c.Poll(0, func(id uint64, r *resp) {
			if r.Seq != uint64(got) || id != uint64(got+1) {
				t.Fatalf("response %d: seq %d id %d", got, r.Seq, id)
			}
			got++
		})
		if err != nil {
			t.Fatal(err)
		}
		if k == 0 {
			runtime.Gosched() // the server's poller may need this CPU
		}
	}
}

func TestManyConns(t *testing.T) {
	s, dir := serve(t, Options{MaxConns: 300})
	conns := make([]*Conn[req, resp], 300)
	for i := range conns {
		conns[i] = dial(t, dir)
	}
	if _, err := Dial[req, resp]("t", DialOptions{Dir: dir}); !errors.Is(err, ErrServerFull) {
		t.Fatalf("301st dial: %v", err)
	}
	var wg sync.WaitGroup
	for i, c := range conns {
		wg.Go(func() {
			var r resp
			for k := range int64(20) {
				if err := c.Call(time.Now().Add(10*time.Second), &req{A: int64(i), B: k}, &r); err != nil || r.Sum != int64(i)+k {
					t.Errorf("conn %d: %v %+v", i, err, r)
					return
				}
			}
		})
	}
	wg.Wait()
	if st := s.Stats(); st.Conns != 300 || st.Requests != 300*20 || st.Refused != 1 {
		t.Fatalf("stats %+v", st)
	}
	// Closing a connection frees its slot for the next client.
	conns[7].Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := Dial[req, resp]("t", DialOptions{Dir: dir})
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("slot not reclaimed: %v", err)
		}
		time.Sleep(time.Millisecond)
	}
}

type respV2 struct { // Seq is now signed
	Sum int64
	Seq int64
}

// TestLayoutMismatchNamesTheField: when the client's Req or Resp differs
// from the server's, each side names the field with its own type as ours
// ("here") and the other's as theirs ("at the peer"): Dial returns a
// *layout.MismatchError from the client's side, and the server logs the
// same difference from its side.
func TestLayoutMismatchNamesTheField(t *testing.T) {
	logs := make(chan string, 16)
	_, dir := serve(t, Options{Logf: func(format string, args ...any) {
		select {
		case logs <- fmt.Sprintf(format, args...):
		default:
		}
	}})
	check := func(err error, what, field, ours, theirs, serverSays string) {
		t.Helper()
		var e *layout.MismatchError
		if !errors.As(err, &e) || !errors.Is(err, layout.ErrLayoutMismatch) {
			t.Fatalf("Dial: %v, want a *layout.MismatchError", err)
		}
		if e.What != what || e.Field != field || !strings.HasPrefix(e.Ours, ours) || !strings.HasPrefix(e.Theirs, theirs) {
			t.Errorf("client: %+v, want What %q, Field %q, Ours %s…, Theirs %s…", *e, what, field, ours, theirs)
		}
		if want := "field " + field + ": " + ours; !strings.Contains(err.Error(), want) {
			t.Errorf("client: %q does not say %q", err, want)
		}
		select {
		case l := <-logs:
			if !strings.Contains(l, serverSays) {
				t.Errorf("server logged %q, want it to say %q", l, serverSays)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("the server logged nothing")
		}
	}
	_, err := Dial[reqV2, resp]("t", DialOptions{Dir: dir})
	check(err, "link request link.reqV2", "B", "float64 at 8", "int64 at 8",
		"link request link.req: field B: int64 at 8 (8 B) here, float64 at 8 (8 B) at the peer")
	_, err = Dial[req, respV2]("t", DialOptions{Dir: dir})
	check(err, "link response link.respV2", "Seq", "int64 at 8", "uint64 at 8",
		"link response link.resp: field Seq: uint64 at 8 (8 B) here, int64 at 8 (8 B) at the peer")
}

func TestListenAndDialErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := Dial[req, resp]("t", DialOptions{Dir: dir}); !errors.Is(err, ErrNoServer) {
		t.Fatalf("no server: %v", err)
	}
	s, err := Listen[req, resp]("t", Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Listen[req, resp]("t", Options{Dir: dir}); !errors.Is(err, ErrInUse) {
		t.Fatalf("second listen: %v", err)
	}
	if err := cleanupIn(dir, "t"); !errors.Is(err, ErrInUse) {
		t.Fatalf("cleanup of a live name: %v", err)
	}
	s.Close()
	if err := s.Close(); !errors.Is(err, ErrClosed) {
		t.Fatal(err)
	}
	for _, o := range []Options{{MaxConns: -1}, {Depth: 3}, {Depth: 1 << 20}, {Pollers: 100}, {SetupTimeout: -1}, {MaxConnsPerUID: -1}, {MaxConns: 8, MaxConnsPerUID: 9}} {
		o.Dir = dir
		if _, err := Listen[req, resp]("x", o); !errors.Is(err, ErrBadOption) {
			t.Errorf("%+v: %v", o, err)
		}
	}
	for _, name := range []string{"", "a/b", "..", strings.Repeat("n", 200)} {
		if _, err := Listen[req, resp](name, Options{Dir: dir}); !errors.Is(err, ErrInvalidName) {
			t.Errorf("name %q: %v", name, err)
		}
	}
	if _, err := Listen[struct{ P *int }, resp]("x", Options{Dir: dir}); !errors.Is(err, layout.ErrNotFixedLayout) {
		t.Error(err)
	}
}

func TestOneWayMixedWithCalls(t *testing.T) {
	dir := t.TempDir()
	var oneWaySum atomic.Int64
	serveAs(t, "t", Options{Dir: dir}, func(q *req, r *resp) {
		if q.Seq == 0 { // one-way messages carry Seq 0 in this test
			oneWaySum.Add(q.A)
		}
		add(q, r)
	})
	c := dial(t, dir)
	var want int64
	deadline := time.Now().Add(20 * time.Second)
	for i := int64(1); i <= 2000; i++ {
		for {
			err := c.Publish(&req{A: i})
			if err == nil {
				break
			}
			if err != ErrFull || time.Now().After(deadline) {
				t.Fatal(err)
			}
			runtime.Gosched() // the server's poller may need this CPU
		}
		want += i
		if i%7 == 0 {
			var r resp
			if err := c.Call(time.Now().Add(5*time.Second), &req{A: i, B: 1, Seq: uint64(i)}, &r); err != nil || r.Sum != i+1 || r.Seq != uint64(i) {
				t.Fatalf("call %d between one-way messages: %v %+v", i, err, r)
			}
		}
	}
	for oneWaySum.Load() != want {
		if time.Now().After(deadline) {
			t.Fatalf("one-way sum %d, want %d", oneWaySum.Load(), want)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestPublishFullWithoutServer(t *testing.T) {
	dir := t.TempDir()
	s, err := Listen[req, resp]("t", Options{Dir: dir, Depth: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close() // never served: requests stay in their slots
	c := dial(t, dir)
	for range 2 {
		if err := c.Publish(&req{}); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Publish(&req{}); err != ErrFull {
		t.Fatalf("third publish into two slots: %v", err)
	}
	if _, err := c.Send(&req{}); err != ErrFull {
		t.Fatalf("send into a full ring: %v", err)
	}
}

// TestMismatchWith: the comparison both sides make names the field from
// ours to theirs, falls back to the fingerprints when the peer's schema
// text does not decode, and finds nothing when the layouts agree.
func TestMismatchWith(t *testing.T) {
	ours, err := layout.Of[req]()
	if err != nil {
		t.Fatal(err)
	}
	theirs, err := layout.Of[reqV2]()
	if err != nil {
		t.Fatal(err)
	}
	e := mismatchWith(whatRequest, ours, theirs.Fingerprint, theirs.Encode())
	if e == nil || e.What != "link request link.req" || e.Field != "B" || !strings.HasPrefix(e.Ours, "int64") || !strings.HasPrefix(e.Theirs, "float64") {
		t.Fatalf("field: %+v", e)
	}
	e = mismatchWith(whatResponse, ours, 0x1234, []byte("not a schema"))
	if want := layout.FingerprintMismatch("link response link.req", ours.Fingerprint, 0x1234); e == nil || *e != *want {
		t.Fatalf("undecodable text: %+v, want %+v", e, want)
	}
	if e := mismatchWith(whatRequest, ours, ours.Fingerprint, ours.Encode()); e != nil {
		t.Fatalf("same layout: %v", e)
	}
}
