package link

import (
	"sync"
	"testing"
	"time"
)

// TestPool: many goroutines share a Pool of fewer Conns; every call gets
// its own correct response; a deadline passed while every Conn is busy
// gives ErrTimeout.
func TestPool(t *testing.T) {
	_, dir := serve(t, Options{})
	p, err := DialPool[req, resp]("t", 3, DialOptions{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for k := range 500 {
				var r resp
				q := req{A: int64(g), B: int64(k), Seq: uint64(k)}
				if err := p.Call(time.Now().Add(10*time.Second), &q, &r); err != nil || r.Sum != q.A+q.B || r.Seq != q.Seq {
					t.Errorf("goroutine %d call %d: %v %+v", g, k, err, r)
					return
				}
			}
		})
	}
	wg.Wait()
	for i := range p.busy {
		p.busy[i].v.Store(1) // every Conn taken
	}
	var r resp
	if err := p.Call(time.Now().Add(time.Millisecond), &req{}, &r); err != ErrTimeout {
		t.Fatalf("all busy: %v", err)
	}
	// Calls that find every Conn busy park, with a deadline or without,
	// until one is given back; one whose deadline passes parked times out.
	done := make(chan error, 2)
	for _, d := range []time.Duration{0, time.Minute} {
		go func() {
			var deadline time.Time
			if d > 0 {
				deadline = time.Now().Add(d)
			}
			var r resp
			done <- p.Call(deadline, &req{A: 1, B: 2}, &r)
		}()
	}
	for end := time.Now().Add(10 * time.Second); p.waiting.Load() != 2; time.Sleep(time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("%d calls parked, want 2", p.waiting.Load())
		}
	}
	if err := p.Call(time.Now().Add(20*time.Millisecond), &req{}, &r); err != ErrTimeout {
		t.Fatalf("the call with a short deadline: %v", err)
	}
	p.give(0)
	p.give(1)
	for range 2 {
		if err := <-done; err != nil {
			t.Fatalf("a parked call: %v", err)
		}
	}
	if _, err := DialPool[req, resp]("t", 0, DialOptions{Dir: dir}); err == nil {
		t.Fatal("a pool of 0")
	}
	if _, err := DialPool[req, resp]("nothing", 2, DialOptions{Dir: dir}); err == nil {
		t.Fatal("a pool to no server")
	}
}

// BenchmarkPool: 8 goroutines calling through one Pool of 8 Conns against
// 8 goroutines with a Conn each (target: ≥ 0.8 × the throughput).
func BenchmarkPool(b *testing.B) {
	_, dir := serve(b, Options{})
	b.Run("api=8conns", func(b *testing.B) {
		conns := make([]*Conn[req, resp], 8)
		for i := range conns {
			conns[i] = dial(b, dir)
		}
		run8(b, func(g int, q *req, r *resp) error { return conns[g].Call(time.Now().Add(time.Minute), q, r) })
	})
	b.Run("api=pool8", func(b *testing.B) {
		p, err := DialPool[req, resp]("t", 8, DialOptions{Dir: dir})
		if err != nil {
			b.Fatal(err)
		}
		defer p.Close()
		run8(b, func(_ int, q *req, r *resp) error { return p.Call(time.Now().Add(time.Minute), q, r) })
	})
}

// run8 spreads b.N calls over 8 goroutines and reports calls/s.
func run8(b *testing.B, call func(g int, q *req, r *resp) error) {
	var wg sync.WaitGroup
	b.ResetTimer()
	for g := range 8 {
		wg.Go(func() {
			q, r := &req{A: 1, B: 2}, &resp{}
			for i := g; i < b.N; i += 8 {
				if err := call(g, q, r); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "calls/s")
}
