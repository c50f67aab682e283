package link

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// TestCallContext: a call honours its context — done before it starts,
// cancelled while it waits parked for a slow handler, its deadline passing,
// cancelled while it waits for a server to come back — and otherwise
// answers like Call.
func TestCallContext(t *testing.T) {
	dir := t.TempDir()
	release := make(chan struct{})
	var once sync.Once
	free := func() { once.Do(func() { close(release) }) }
	s := serveAs(t, "t", Options{Dir: dir}, func(q *req, r *resp) {
		if q.A == -1 {
			<-release
		}
		r.Seq, r.Sum = q.Seq, q.A+q.B
	})
	t.Cleanup(free) // before the server's Close, on a failure too
	c := dial(t, dir)
	var r resp
	if err := c.CallContext(context.Background(), &req{A: 2, B: 3}, &r); err != nil || r.Sum != 5 {
		t.Fatalf("background: %v %+v", err, r)
	}
	done, cancel := context.WithCancel(context.Background())
	cancel()
	if err := c.CallContext(done, &req{A: 2}, &r); !errors.Is(err, context.Canceled) {
		t.Fatalf("done before: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(20*time.Millisecond, cancel)
	if err := c.CallContext(ctx, &req{A: -1}, &r); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled while parked: %v", err)
	}
	ctx, cancel = context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := c.CallContext(ctx, &req{A: -1}, &r); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("deadline: %v", err)
	}
	free()
	if err := c.CallContext(context.Background(), &req{A: 4, B: 4}, &r); err != nil || r.Sum != 8 {
		t.Fatalf("after: %v %+v", err, r)
	}
	s.Close()
	if !waitFor(5*time.Second, func() bool { return c.State() == Reconnecting }) {
		t.Fatal("the Conn did not see the server go")
	}
	ctx, cancel = context.WithCancel(context.Background())
	time.AfterFunc(20*time.Millisecond, cancel)
	if err := c.CallContext(ctx, &req{A: 1}, &r); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled while waiting for the server: %v", err)
	}
	if st := c.Stats(); st.Timeouts != 3 { // the three that ended with their context, once under way
		t.Fatalf("stats: %+v", st)
	}
}

// BenchmarkCallContext: a call through CallContext (with a cancellable
// context with a deadline) against Call, same server (target: within 5 %).
func BenchmarkCallContext(b *testing.B) {
	_, dir := serve(b, Options{})
	c := dial(b, dir)
	q, r := &req{A: 1, B: 2}, &resp{}
	b.Run("api=Call", func(b *testing.B) {
		d := time.Now().Add(time.Minute)
		for b.Loop() {
			if err := c.Call(d, q, r); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("api=CallContext", func(b *testing.B) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		for b.Loop() {
			if err := c.CallContext(ctx, q, r); err != nil {
				b.Fatal(err)
			}
		}
	})
}
