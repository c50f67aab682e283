package link

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spinwire/spinwire/layout"
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

// serve starts a server on a fresh directory and returns it and the
// directory; both are cleaned up with the test.
func serve(t testing.TB, opts Options) (*Server[req, resp], string) {
	t.Helper()
	if opts.Dir == "" {
		opts.Dir = t.TempDir()
	}
	opts.Logf = t.Logf
	s, err := Listen[req, resp]("t", opts)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(add) }()
	t.Cleanup(func() {
		s.Close()
		if err := <-done; err != nil && !errors.Is(err, ErrClosed) {
			t.Error(err)
		}
	})
	return s, opts.Dir
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
	deadline := time.Now().Add(20 * time.Second)
	for got < n {
		if time.Now().After(deadline) {
			t.Fatalf("got %d of %d", got, n)
		}
		for sent < n {
			if _, err := c.Send(&req{A: int64(sent), Seq: uint64(sent)}); err == ErrFull {
				break
			} else if err != nil {
				t.Fatal(err)
			}
			sent++
		}
		if _, err := c.Poll(0, func(id uint64, r *resp) {
			if r.Seq != uint64(got) || id != uint64(got+1) {
				t.Fatalf("response %d: seq %d id %d", got, r.Seq, id)
			}
			got++
		}); err != nil {
			t.Fatal(err)
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

func TestLayoutMismatchNamesTheField(t *testing.T) {
	_, dir := serve(t, Options{})
	_, err := Dial[reqV2, resp]("t", DialOptions{Dir: dir})
	if !errors.Is(err, layout.ErrLayoutMismatch) || !strings.Contains(err.Error(), "B @8 float64") {
		t.Fatalf("err = %v", err)
	}
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
	for _, o := range []Options{{MaxConns: -1}, {Depth: 3}, {Depth: 1 << 20}, {Pollers: 100}, {SetupTimeout: -1}} {
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

var _ = fmt.Sprint

func TestOneWayMixedWithCalls(t *testing.T) {
	dir := t.TempDir()
	s, err := Listen[req, resp]("t", Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var oneWaySum atomic.Int64
	go s.Serve(func(q *req, r *resp) {
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
