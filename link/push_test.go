package link

import (
	"errors"
	"runtime"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spinwire/spinwire/affinity"
	"github.com/spinwire/spinwire/asm"
	"github.com/spinwire/spinwire/layout"
	"github.com/spinwire/spinwire/spin"
)

// fill is the push type of the tests.
type fill struct {
	Order uint64
	Qty   int64
	N     uint64
	_     [8]byte
}

type fillV2 struct { // Qty is now a float64
	Order uint64
	Qty   float64
	N     uint64
	_     [8]byte
}

// pushServer serves "t" in dir with pushes of fill; each request (A, B)
// is answered inline and pushes B fills to its caller, numbered from A.
// The peers it pushed to go on peers.
func pushServer(t testing.TB, dir string, opts Options) (*PushServer[req, resp, fill], chan Peer) {
	t.Helper()
	opts.Dir, opts.Logf = dir, t.Logf
	opts.Idler = func() spin.Idler { return spin.Yield{} }
	s, err := ListenPush[req, resp, fill]("t", opts)
	if err != nil {
		t.Fatal(err)
	}
	peers := make(chan Peer, 64)
	done := make(chan error, 1)
	go func() {
		done <- s.ServeCaller(func(c *Caller, q *req, r *resp) {
			add(q, r)
			if q.B > 0 {
				select {
				case peers <- c.Peer():
				default:
				}
			}
			for i := range q.B {
				if err := s.Push(c.Peer(), &fill{Order: q.Seq, Qty: q.A + i, N: uint64(i)}); err != nil {
					r.Sum = -1
				}
			}
		})
	}()
	t.Cleanup(func() { s.Close(); <-done })
	return s, peers
}

func dialPush(t testing.TB, dir string) *PushConn[req, resp, fill] {
	t.Helper()
	c, err := DialPush[req, resp, fill]("t", DialOptions{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestPush: pushes from the handler and from another goroutine reach the
// connection they were sent to, in order, through TryRecv, Recv and
// Drain; a plain Conn to the same server gets none and Push to it says
// ErrNoPush; neither side allocates.
func TestPush(t *testing.T) {
	dir := t.TempDir()
	s, peers := pushServer(t, dir, Options{PushDepth: 16})
	c := dialPush(t, dir)
	plain := dial(t, dir)
	var r resp
	if err := c.Call(time.Now().Add(5*time.Second), &req{A: 100, B: 3, Seq: 7}, &r); err != nil || r.Sum != 103 {
		t.Fatalf("call: %v %+v", err, r)
	}
	var f fill
	for i := range int64(3) {
		if err := c.Recv(time.Now().Add(5*time.Second), &f); err != nil || f.Order != 7 || f.Qty != 100+i {
			t.Fatalf("push %d: %v %+v", i, err, f)
		}
	}
	if got, err := c.TryRecv(&f); got || err != nil {
		t.Fatalf("empty ring: %v %v", got, err)
	}
	p := <-peers
	if !p.Pushes() {
		t.Fatal("the push connection's Peer says it takes no pushes")
	}
	// From another goroutine, more than the ring holds, taken as they come.
	const n = 1000
	go func() {
		for i := uint64(0); i < n; {
			switch err := s.Push(p, &fill{N: i}); err {
			case nil:
				i++
			case ErrFull:
				time.Sleep(time.Microsecond)
			default:
				t.Errorf("push %d: %v", i, err)
				return
			}
		}
	}()
	next := uint64(0)
	deadline := time.Now().Add(10 * time.Second)
	for next < n && time.Now().Before(deadline) {
		if _, err := c.Drain(5, func(f *fill) {
			if f.N != next {
				t.Fatalf("push %d came as %d", next, f.N)
			}
			next++
		}); err != nil {
			t.Fatal(err)
		}
	}
	if next != n {
		t.Fatalf("took %d of %d pushes", next, n)
	}
	if err := plain.Call(time.Now().Add(5*time.Second), &req{A: 1, B: 1}, &r); err != nil || r.Sum != -1 {
		t.Fatalf("plain call: %v %+v (want the handler's Push to fail)", err, r)
	}
	var pp Peer
	for _, ci := range s.Conns() {
		if !ci.Peer.Pushes() {
			pp = ci.Peer
		}
	}
	if err := s.Push(pp, &f); !errors.Is(err, ErrNoPush) {
		t.Fatalf("push to a plain conn: %v", err)
	}
	allocs := testing.AllocsPerRun(100, func() {
		if err := s.Push(p, &f); err != nil {
			t.Fatal(err)
		}
		if got, err := c.TryRecv(&f); !got || err != nil {
			t.Fatal(got, err)
		}
	})
	if allocs != 0 {
		t.Fatalf("%.1f allocations per push and receive", allocs)
	}
	if st := s.Stats(); st.Pushes != 3+n+101 {
		t.Fatalf("stats: %+v", st)
	}
}

// TestPushFull: a client that never takes its pushes fills its ring;
// the server gets ErrFull at once, counted, and the other connections'
// pushes go on.
func TestPushFull(t *testing.T) {
	dir := t.TempDir()
	s, peers := pushServer(t, dir, Options{PushDepth: 8})
	lazy, busy := dialPush(t, dir), dialPush(t, dir)
	var r resp
	if err := lazy.Call(time.Now().Add(5*time.Second), &req{B: 8}, &r); err != nil || r.Sum != 8 {
		t.Fatalf("call: %v %+v", err, r)
	}
	p := <-peers
	for range 3 {
		if err := s.Push(p, &fill{}); err != ErrFull {
			t.Fatalf("push into a full ring: %v", err)
		}
	}
	if err := busy.Call(time.Now().Add(5*time.Second), &req{B: 8}, &r); err != nil || r.Sum != 8 {
		t.Fatalf("call: %v %+v", err, r)
	}
	if n, err := busy.Drain(0, func(*fill) {}); n != 8 || err != nil {
		t.Fatalf("drain: %d %v", n, err)
	}
	// Once the lazy client takes one, there is room for one more.
	var f fill
	if got, err := lazy.TryRecv(&f); !got || err != nil || f.N != 0 {
		t.Fatalf("recv: %v %v %+v", got, err, f)
	}
	if err := s.Push(p, &fill{N: 8}); err != nil {
		t.Fatal(err)
	}
	if err := s.Push(p, &fill{}); err != ErrFull {
		t.Fatalf("push into a full ring: %v", err)
	}
	if st := s.Stats(); st.PushFull != 4 || st.Pushes != 17 {
		t.Fatalf("stats: %+v", st)
	}
}

// TestPushHostilePosition: a client that writes a Position no correct
// client writes — ahead of what it was sent, or behind what it took —
// is dropped when the server next reads it; the server and the other
// connection go on.
func TestPushHostilePosition(t *testing.T) {
	for _, bad := range []uint64{1 << 40, 2} {
		dir := t.TempDir()
		s, peers := pushServer(t, dir, Options{PushDepth: 4})
		evil, good := dialPush(t, dir), dialPush(t, dir)
		var r resp
		if err := evil.Call(time.Now().Add(5*time.Second), &req{B: 4}, &r); err != nil || r.Sum != 4 {
			t.Fatalf("call: %v %+v", err, r)
		}
		p := <-peers
		if n, err := evil.Drain(0, func(*fill) {}); n != 4 || err != nil {
			t.Fatalf("drain: %d %v", n, err)
		}
		for range 4 { // the server reads Position 4: positions 4…7 free
			if err := s.Push(p, &fill{}); err != nil {
				t.Fatal(err)
			}
		}
		if bad == 2 {
			bad = 3 // behind the 4 the server has read
		}
		atomic.StoreUint64(evil.cur.push.pos, bad)
		if err := s.Push(p, &fill{}); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("Position %d: push: %v", bad, err)
		}
		if err := s.Push(p, &fill{}); !errors.Is(err, ErrPeerGone) {
			t.Fatalf("push to the dropped connection: %v", err)
		}
		if err := good.Call(time.Now().Add(5*time.Second), &req{B: 2}, &r); err != nil || r.Sum != 2 {
			t.Fatalf("good call: %v %+v", err, r)
		}
		if n, err := good.Drain(0, func(*fill) {}); n != 2 || err != nil {
			t.Fatalf("good drain: %d %v", n, err)
		}
		if st := s.Stats(); st.Dropped != 1 || st.PushGone != 1 {
			t.Fatalf("stats: %+v", st)
		}
	}
}

// TestPushCorruptSlot: a push slot whose sequence word holds what no
// correct server writes makes the client give the attachment up with
// ErrCorrupt and redial; pushes go on on the new one.
func TestPushCorruptSlot(t *testing.T) {
	dir := t.TempDir()
	s, peers := pushServer(t, dir, Options{})
	c := dialPush(t, dir)
	var r resp
	if err := c.Call(time.Now().Add(5*time.Second), &req{B: 1}, &r); err != nil {
		t.Fatal(err)
	}
	<-peers
	atomic.StoreUint64(c.cur.push.seq(1), 99)
	var f fill
	if err := c.Recv(time.Now().Add(5*time.Second), &f); err != nil {
		t.Fatal(err)
	}
	if _, err := c.TryRecv(&f); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("corrupt slot: %v", err)
	}
	if err := c.Call(time.Now().Add(5*time.Second), &req{A: 5, B: 1}, &r); err != nil {
		t.Fatal(err)
	}
	if err := c.Recv(time.Now().Add(5*time.Second), &f); err != nil || f.Qty != 5 {
		t.Fatalf("after the redial: %v %+v", err, f)
	}
	if st := c.Stats(); st.Corrupt != 1 || st.Redials != 1 {
		t.Fatalf("stats: %+v", st)
	}
	_ = s
}

// TestPushTypes: DialPush with another push type is refused with the
// field that differs; DialPush to a server without pushes with
// ErrNoPush; Listen and DialPush refuse oversized push types.
func TestPushTypes(t *testing.T) {
	dir := t.TempDir()
	pushServer(t, dir, Options{})
	_, err := DialPush[req, resp, fillV2]("t", DialOptions{Dir: dir})
	var me *layout.MismatchError
	if !errors.As(err, &me) || me.Field != "Qty" {
		t.Fatalf("mismatched push type: %v", err)
	}
	dir2 := t.TempDir()
	serve(t, Options{Dir: dir2})
	if _, err := DialPush[req, resp, fill]("t", DialOptions{Dir: dir2}); !errors.Is(err, ErrNoPush) {
		t.Fatalf("push client, plain server: %v", err)
	}
	type huge struct{ B [maxPushStride]byte }
	if _, err := ListenPush[req, resp, huge]("u", Options{Dir: dir2}); !errors.Is(err, ErrBadOption) {
		t.Fatalf("huge push type: %v", err)
	}
	if _, err := ListenPush[req, resp, fill]("u", Options{Dir: dir2, PushDepth: 3}); !errors.Is(err, ErrBadOption) {
		t.Fatalf("PushDepth 3: %v", err)
	}
}

// TestPushPeerGone: pushes to a connection whose client closed fail with
// ErrPeerGone and are counted.
func TestPushPeerGone(t *testing.T) {
	dir := t.TempDir()
	s, peers := pushServer(t, dir, Options{})
	c := dialPush(t, dir)
	var r resp
	if err := c.Call(time.Now().Add(5*time.Second), &req{B: 2}, &r); err != nil {
		t.Fatal(err)
	}
	p := <-peers
	c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for s.Stats().Conns != 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if err := s.Push(p, &fill{}); !errors.Is(err, ErrPeerGone) {
		t.Fatalf("push after close: %v", err)
	}
	if st := s.Stats(); st.PushGone != 1 {
		t.Fatalf("stats: %+v", st)
	}
}

// TestPushServerGone: pushes in the ring when the server goes are still
// taken, then ErrPeerGone comes once; the Conn redials to the next
// server, whose ring starts empty and brings its pushes.
func TestPushServerGone(t *testing.T) {
	dir := t.TempDir()
	s, _ := pushServer(t, dir, Options{})
	c := dialPush(t, dir)
	var r resp
	if err := c.Call(time.Now().Add(5*time.Second), &req{A: 10, B: 2}, &r); err != nil {
		t.Fatal(err)
	}
	s.Close()
	deadline := time.Now().Add(10 * time.Second)
	for c.State() == Connected && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	var f fill
	for i := range int64(2) {
		if got, err := c.TryRecv(&f); !got || err != nil || f.Qty != 10+i {
			t.Fatalf("push %d after the server went: %v %v %+v", i, got, err, f)
		}
	}
	if _, err := c.TryRecv(&f); !errors.Is(err, ErrPeerGone) {
		t.Fatalf("empty ring of a gone server: %v", err)
	}
	pushServer(t, dir, Options{})
	if err := c.Call(time.Now().Add(10*time.Second), &req{A: 20, B: 1}, &r); err != nil {
		t.Fatal(err)
	}
	if err := c.Recv(time.Now().Add(5*time.Second), &f); err != nil || f.Qty != 20 || f.N != 0 {
		t.Fatalf("push from the next server: %v %+v", err, f)
	}
}

// TestRecvParked: a Recv that has stopped spinning and parked takes a
// push that comes later (found by the client poller), ends at its deadline
// with ErrTimeout (counted), returns ErrClosed when its Conn is closed
// under it, and ErrPeerGone when the server goes with the ring empty.
func TestRecvParked(t *testing.T) {
	dir := t.TempDir()
	s, peers := pushServer(t, dir, Options{})
	c, other := dialPush(t, dir), dialPush(t, dir)
	var r resp
	var f fill
	if err := c.Call(time.Now().Add(5*time.Second), &req{A: 1, B: 1}, &r); err != nil {
		t.Fatal(err)
	}
	p := <-peers
	if err := c.Recv(time.Now().Add(5*time.Second), &f); err != nil || f.Qty != 1 {
		t.Fatalf("first push: %v %+v", err, f)
	}
	res := parkedRecv(t, c, time.Now().Add(10*time.Second))
	if err := s.Push(p, &fill{Qty: 42}); err != nil {
		t.Fatal(err)
	}
	if err := <-res; err != nil {
		t.Fatalf("parked Recv, push after: %v", err)
	}
	timeouts := c.Stats().Timeouts
	if err := c.Recv(time.Now().Add(30*time.Millisecond), &f); err != ErrTimeout || c.Stats().Timeouts != timeouts+1 {
		t.Fatalf("no push: %v, %+v", err, c.Stats())
	}
	res = parkedRecv(t, other, time.Time{})
	other.Close()
	if err := <-res; err != ErrClosed {
		t.Fatalf("parked Recv, Conn closed: %v", err)
	}
	res = parkedRecv(t, c, time.Time{})
	s.Close()
	if err := <-res; !errors.Is(err, ErrPeerGone) {
		t.Fatalf("parked Recv, server gone: %v", err)
	}
}

// parkedRecv starts c.Recv(deadline) on another goroutine and returns once
// it has parked, with what it will return: nil only for a push of Qty 42.
func parkedRecv(t *testing.T, c *PushConn[req, resp, fill], deadline time.Time) <-chan error {
	t.Helper()
	before := c.Stats().Parks
	res := make(chan error, 1)
	go func() {
		var g fill
		err := c.Recv(deadline, &g)
		if err == nil && g.Qty != 42 {
			err = errors.New("wrong push")
		}
		res <- err
	}()
	if !waitFor(10*time.Second, func() bool { return c.Stats().Parks > before }) {
		t.Fatal("Recv did not park")
	}
	return res
}

// BenchmarkPushOneWay: the one-way latency of a push — from the TSC stamp
// the server's handler writes into it to the client's Recv that finds it
// — against a spin.Ring's carrying the same 32-byte message the same way:
// the client sends a trigger (a one-way request; a ring message), the
// other side stamps and sends the message, the client spins for it (Recv;
// the ring's Poll) and records the delay. Server and client pinned to two
// CPUs; the two alternate in blocks of 1000 rounds, so that a host that
// changes speed meanwhile slows both alike. Reports the medians
// (push-p50-ns, ring-p50-ns) and their ratio (push/ring). Target: ≤ 1.2.
func BenchmarkPushOneWay(b *testing.B) {
	ca, cb := twoCPUs(b)
	dir := b.TempDir()
	s, err := ListenPush[req, resp, fill]("t", Options{Dir: dir, CPUs: []int{cb}})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	trig, msgs := benchRing[req](b), benchRing[fill](b)
	// The ring's server side runs in the poller's handler too, so that
	// one pinned thread serves both: a request triggers a push; a spin
	// ring message, found by the same sweep's idle check, a ring message.
	go s.ServeCaller(func(c *Caller, q *req, _ *resp) {
		if q.A == 0 {
			s.Push(c.Peer(), &fill{N: asm.Ticks()})
			return
		}
		for trig.Poll(1, func(*req) {}) == 0 {
			asm.Pause()
		}
		msgs.TryPublish(&fill{N: asm.Ticks()})
	})
	c := dialPush(b, dir)
	undo, err := affinity.Pin(ca)
	if err != nil {
		b.Fatal(err)
	}
	defer undo()
	push, ring := make([]float64, 0, b.N/2+1000), make([]float64, 0, b.N/2+1000)
	var f fill
	b.ResetTimer()
	for i := range b.N {
		if i/1000%2 == 0 {
			c.Publish(&req{})
			if err := c.Recv(time.Time{}, &f); err != nil {
				b.Fatal(err)
			}
			push = append(push, asm.TicksToNanos(asm.Ticks()-f.N))
			continue
		}
		c.Publish(&req{A: 1})
		trig.TryPublish(&req{})
		for msgs.Poll(1, func(m *fill) { f = *m }) == 0 {
			asm.Pause()
		}
		ring = append(ring, asm.TicksToNanos(asm.Ticks()-f.N))
	}
	b.StopTimer()
	if len(ring) == 0 {
		return
	}
	p, r := median(push), median(ring)
	b.ReportMetric(p, "push-p50-ns")
	b.ReportMetric(r, "ring-p50-ns")
	b.ReportMetric(p/r, "push/ring")
}

func median(v []float64) float64 {
	slices.Sort(v)
	return v[len(v)/2]
}

// benchRing makes a spin.Ring of 64 T in a fresh segment.
func benchRing[T any](b *testing.B) *spin.Ring[T] {
	n, _, err := spin.RingLength[T](64, spin.InSlot)
	if err != nil {
		b.Fatal(err)
	}
	seg, err := layout.Create(n, layout.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { seg.Close() })
	r, err := spin.NewRing[T](seg.Body()[:n], spin.RingOptions{Capacity: 64, Protocol: spin.InSlot})
	if err != nil {
		b.Fatal(err)
	}
	return r
}

// twoCPUs skips b unless two CPUs can be pinned, and returns them.
func twoCPUs(b *testing.B) (int, int) {
	allowed, err := affinity.Allowed()
	if err != nil || len(allowed) < 2 {
		b.Skipf("needs two CPUs (allowed %v, err %v)", allowed, err)
	}
	return allowed[len(allowed)-2], allowed[len(allowed)-1]
}

// BenchmarkPushCost: Push and the TryRecv that takes it, on one thread
// (no cache line moves between CPUs): what the two sides spend per
// message; and a TryRecv that finds nothing, what a spinning client
// spends per look.
func BenchmarkPushCost(b *testing.B) {
	dir := b.TempDir()
	s, peers := pushServer(b, dir, Options{})
	c := dialPush(b, dir)
	var r resp
	if err := c.Call(time.Now().Add(5*time.Second), &req{B: 1}, &r); err != nil {
		b.Fatal(err)
	}
	p := <-peers
	var f fill
	c.TryRecv(&f)
	b.Run("push+recv", func(b *testing.B) {
		for b.Loop() {
			s.Push(p, &f)
			c.TryRecv(&f)
		}
	})
	b.Run("recv=empty", func(b *testing.B) {
		for b.Loop() {
			c.TryRecv(&f)
		}
	})
}

// TestReplyAndPushAfterClose: a deferred call answered, or a push sent,
// from another goroutine while the server closes and after it has closed
// gets ErrPeerGone (or ErrFull, ErrReplied) — never a write into the
// unmapped arena, which faults the process.
func TestReplyAndPushAfterClose(t *testing.T) {
	dir := t.TempDir()
	type held struct {
		d Deferred
		p Peer
	}
	got := make(chan held, 1)
	s, err := ListenPush[req, resp, fill]("t", Options{Dir: dir, Logf: t.Logf, Idler: func() spin.Idler { return spin.Yield{} }})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		done <- s.ServeCaller(func(c *Caller, q *req, r *resp) {
			select {
			case got <- held{c.Defer(), c.Peer()}:
			default:
			}
		})
	}()
	defer func() { s.Close(); <-done }()
	c := dialPush(t, dir)
	var r resp
	if err := c.Call(time.Now().Add(20*time.Millisecond), &req{A: 1}, &r); err != ErrTimeout {
		t.Fatalf("deferred call: %v", err)
	}
	h := <-got
	stop := make(chan struct{})
	hammered := make(chan struct{})
	go func() {
		defer close(hammered)
		for {
			select {
			case <-stop:
				return
			default:
				s.Reply(h.d, &resp{})
				s.Push(h.p, &fill{})
				runtime.Gosched()
			}
		}
	}()
	s.Close()
	close(stop)
	<-hammered
	if err := s.Reply(h.d, &resp{}); !errors.Is(err, ErrPeerGone) && err != ErrReplied {
		t.Fatalf("Reply after Close: %v", err)
	}
	if err := s.Push(h.p, &fill{}); !errors.Is(err, ErrPeerGone) {
		t.Fatalf("Push after Close: %v", err)
	}
}
