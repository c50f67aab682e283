package link

import (
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"
)

// TestEarlierFree: a slot's free value from an earlier or the same lap is
// 2q with q ≡ p mod Depth and q ≤ p, and nothing else is — not a value of
// half a lap (q ≡ p mod Depth/2), a later lap, or an odd value.
func TestEarlierFree(t *testing.T) {
	const depth, p = 4, 10
	r := callRing{depth: depth, mask: depth - 1}
	for s := range uint64(2*p + 2*depth + 1) {
		q := s / 2
		want := s%2 == 0 && q <= p && q%depth == p%depth
		if got := r.earlierFree(p, s); got != want {
			t.Errorf("earlierFree(%d, %d) = %v, want %v", p, s, got, want)
		}
	}
}

// TestCallRingStates walks one slot through every state of the call
// protocol, for a call and a one-way request, on zeroed memory (a memfd
// hole): each side's check answers yes, no or corrupt exactly as the
// protocol says (callring.go).
func TestCallRingStates(t *testing.T) {
	const depth = 4
	buf := make([]uint64, depth*64/8)
	r := callRing{base: unsafe.Pointer(&buf[0]), depth: depth, mask: depth - 1, step: 64, size: 64}
	type want struct{ free, request, response int }
	check := func(step string, p uint64, w want) {
		t.Helper()
		if got := (want{r.free(p), r.request(p), r.response(p)}); got != w {
			t.Fatalf("%s, position %d: free/request/response = %v, want %v", step, p, got, w)
		}
	}
	for p := range uint64(depth) {
		check("zeroed", p, want{slotYes, slotNo, slotCorrupt})
	}
	// A call at 0.
	r.publish(0)
	check("request sent", 0, want{slotCorrupt, slotYes, slotNo})
	// At p+Depth the server finds p's request not answered: a call its
	// handler deferred (defer.go), so p+Depth is not sent yet.
	check("request sent", depth, want{slotNo, slotNo, slotCorrupt})
	r.answer(0)
	check("answered", 0, want{slotCorrupt, slotCorrupt, slotYes})
	check("answered", depth, want{slotNo, slotNo, slotCorrupt})
	r.done(0)
	check("taken", depth, want{slotYes, slotNo, slotCorrupt})
	check("taken", 0, want{slotCorrupt, slotCorrupt, slotCorrupt})
	// The next lap's call in the same slot.
	r.publish(depth)
	check("second lap sent", depth, want{slotCorrupt, slotYes, slotNo})
	// A one-way request at 1: the server frees the slot itself.
	r.publish(1)
	check("one way sent", 1, want{slotCorrupt, slotYes, slotNo})
	r.done(1)
	check("one way served", 1+depth, want{slotYes, slotNo, slotCorrupt})
	// Other slots were never touched.
	for _, p := range []uint64{2, 3} {
		check("untouched", p, want{slotYes, slotNo, slotCorrupt})
	}
	// Values no correct peer leaves: the server's check drops them.
	for _, v := range []uint64{2*2 + 2, 2*2 + 3, 2*(2+2*depth) + 1, 2*(2+depth) + 2, 1 << 63, ^uint64(0)} {
		r.storeSeq(2, v)
		if r.request(2) != slotCorrupt {
			t.Errorf("sequence %d at position 2: the server does not see corruption", v)
		}
	}
}

// TestHandlerSeesItsOwnCopy: the response is written over the request in
// the call's slot, so the handler must get a copy of the request. This
// handler writes the response's second word (where the request's B is in
// the slot) before it reads B.
func TestHandlerSeesItsOwnCopy(t *testing.T) {
	dir := t.TempDir()
	s, err := Listen[req, resp]("t", Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		done <- s.Serve(func(q *req, r *resp) {
			r.Seq = 0xdead
			r.Sum = q.A + q.B
			r.Seq = q.Seq
		})
	}()
	defer func() {
		s.Close()
		if err := <-done; err != nil && !errors.Is(err, ErrClosed) {
			t.Error(err)
		}
	}()
	c := dial(t, dir)
	for k := range int64(20) {
		var r resp
		if err := c.Call(time.Now().Add(10*time.Second), &req{A: 1000, B: k, Seq: uint64(k)}, &r); err != nil {
			t.Fatal(err)
		}
		if r.Sum != 1000+k || r.Seq != uint64(k) {
			t.Fatalf("call %d: %+v, want sum %d", k, r, 1000+k)
		}
	}
}

// memConn is connection 1 of an in-memory arena of two (zeroed: every
// slot in its initial state), active, and its ring.
func memConn() (*sconn, callRing) {
	g := geometry(2, 4, unsafe.Sizeof(req{}), unsafe.Sizeof(resp{}))
	buf := make([]uint64, g.length/8+8)
	body := unsafe.Slice((*byte)(unsafe.Pointer(&buf[0])), g.length)
	c := &sconn{fd: -1, d: &domain{a: &arena{g: g, body: body}}, index: 1}
	c.state.Store(connActive)
	return c, connRing(body, &g, 1)
}

// serveConn on an in-memory arena: a call is answered in its own slot, a
// one-way request's slot is freed, and a value no client writes drops the
// connection.
func TestServeConnAnswersInTheSlot(t *testing.T) {
	c, r := memConn()
	*(*req)(r.slot(0)) = req{A: 40, B: 2, Seq: 9}
	*r.id(0) = 1
	r.publish(0)
	*(*req)(r.slot(1)) = req{A: 5}
	*r.id(1) = 2 | oneWay
	r.publish(1)
	var oneWays int
	s := &Server[req, resp]{handler: func(q *req, p *resp) {
		if q.Seq == 0 {
			oneWays++
		}
		add(q, p)
	}}
	var sc scratch[req, resp]
	if n := s.serveConn(c, &sc); n != 2 || c.pos != 2 {
		t.Fatalf("served %d, position %d; want 2, 2", n, c.pos)
	}
	if r.response(0) != slotYes || *(*resp)(r.slot(0)) != (resp{Sum: 42, Seq: 9}) || *r.id(0) != 1 {
		t.Fatalf("call slot: state %d, %+v, id %d", r.response(0), *(*resp)(r.slot(0)), *r.id(0))
	}
	if r.free(1+4) != slotYes || oneWays != 1 {
		t.Fatalf("one-way slot not freed (%d) or handler runs %d", r.free(5), oneWays)
	}
	// A sequence word at position 2 that no client writes (a response).
	r.storeSeq(2, 2*2+2)
	if n := s.serveConn(c, &sc); n != 0 || c.state.Load() != connClosing {
		t.Fatalf("corrupt slot: served %d, state %d", n, c.state.Load())
	}
}

// The jump (callring.go): a client with nothing in flight starts at its first
// slot and marks the request quiet; the server follows it there, also when
// the client has gone on past the jump into the slots it skipped; after a
// lone quiet request it reads the next slot only once the client says a
// request follows; and it never jumps over a request that is there.
func TestServeConnFollowsTheJump(t *testing.T) {
	c, r := memConn()
	s := &Server[req, resp]{handler: add}
	var sc scratch[req, resp]
	send := func(p uint64, a int64, flags uint64) {
		t.Helper()
		if r.free(p) != slotYes {
			t.Fatalf("position %d: slot not free (sequence %d)", p, r.loadSeq(p))
		}
		*(*req)(r.slot(p)) = req{A: a, Seq: p}
		*r.id(p) = p + 1 | flags
		r.publish(p)
	}
	take := func(p uint64, a int64) {
		t.Helper()
		if r.response(p) != slotYes || (*resp)(r.slot(p)).Sum != a {
			t.Fatalf("position %d: state %d, %+v", p, r.response(p), *(*resp)(r.slot(p)))
		}
		r.done(p)
	}
	serve := func(want int, pos uint64) {
		t.Helper()
		if n := s.serveConn(c, &sc); n != want || c.pos != pos || c.state.Load() != connActive {
			t.Fatalf("served %d, position %d, state %d; want %d, %d, active", n, c.pos, c.state.Load(), want, pos)
		}
	}
	// One call at a time, jumping each time: every call in slot 0.
	for k := range uint64(5) {
		p := 4 * k
		send(p, int64(k), quietFlag)
		serve(1, p+1)
		take(p, int64(k))
	}
	for i := uint64(1); i < 4; i++ {
		if *r.seqWord(i) != 0 {
			t.Fatalf("slot %d was written: %d", i, *r.seqWord(i))
		}
	}
	// A quiet call at 20, then 21..23 behind it (followsFlag on 20) before
	// the server looks: all four served at once.
	send(20, 20, quietFlag)
	send(21, 21, 0)
	atomic.OrUint64(r.id(20), followsFlag)
	send(22, 22, 0)
	send(23, 23, 0)
	serve(4, 24)
	for p := uint64(20); p < 24; p++ {
		take(p, int64(p))
	}
	// A lone quiet call at 24, served; then 25 behind it, flagged only
	// after the server read 24: the server does not read slot 1 until the
	// doorbell brings it back (no jump at 28 is there), then serves 25.
	send(24, 1, quietFlag)
	serve(1, 25)
	send(25, 2, 0)
	atomic.OrUint64(r.id(24), followsFlag)
	serve(1, 26)
	take(24, 1)
	take(25, 2)
	// Jumped over: the client went quiet at 26, jumped to 28 and on to 29
	// (slot 1, which still holds 25's done value) before the server looked.
	send(28, 3, quietFlag)
	atomic.OrUint64(r.id(28), followsFlag)
	send(29, 4, 0)
	serve(2, 30)
	take(28, 3)
	take(29, 4)
	// No jump without the quiet mark: 30 is not sent, 32 is (as a client
	// that does not jump never does), so the server waits at 30.
	send(32, 5, 0)
	serve(0, 30)
}

// BenchmarkServeConn: serveConn answering batch requests (1, or Depth:
// 4) on an in-memory arena, on one thread (no line moves between CPUs):
// what the poller spends per request beyond the cache misses — the ring
// lookup, the slot checks, the copy, the handler's call and the answer —
// with the client's side (publish, done) in the loop too. ns/req is per
// request.
func BenchmarkServeConn(b *testing.B) {
	for _, batch := range []uint64{1, 4} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			c, r := memConn()
			s := &Server[req, resp]{handler: add}
			var sc scratch[req, resp]
			p := uint64(0)
			for b.Loop() {
				for k := range batch {
					*(*req)(r.slot(p + k)) = req{A: 1, Seq: p + k}
					*r.id(p + k) = p + k + 1
					r.publish(p + k)
				}
				if s.serveConn(c, &sc) != int(batch) {
					b.Fatal("not served")
				}
				for k := range batch {
					r.done(p + k)
				}
				p += batch
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(int(batch)*b.N), "ns/req")
		})
	}
}
