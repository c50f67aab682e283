package link

import (
	"runtime"
	"sync/atomic"
	"time"
)

// Pool is a set of Conns to one server that many goroutines may call
// concurrently: each call takes a free Conn (an atomic counter picks where
// to start looking, a compare-and-swap takes it), calls on it and gives
// it back. With as many Conns as goroutines calling at once, a call rarely
// waits; when every Conn is busy it yields and looks again, takeYields
// times, then parks until a Conn is given back or its deadline passes
// (the goroutines waiting for a slow server use no CPU). Cost over
// Conn.Call: an atomic add, a CAS, a store and a load (BenchmarkPool). No
// allocation, but for a call that parks with a deadline (a timer).
type Pool[Req, Resp any] struct {
	conns   []*Conn[Req, Resp]
	busy    []paddedFlag
	next    atomic.Uint64
	waiting atomic.Int32  // calls parked in take
	freed   chan struct{} // a token per Conn given back while some wait
}

// paddedFlag is a Conn's busy flag, alone on its cache line.
type paddedFlag struct {
	v atomic.Uint32
	_ [60]byte
}

// DialPool dials n Conns to name (n ≥ 1). On an error the Conns dialled so
// far are closed.
func DialPool[Req, Resp any](name string, n int, opts DialOptions) (*Pool[Req, Resp], error) {
	if n < 1 {
		return nil, ErrBadOption
	}
	p := &Pool[Req, Resp]{busy: make([]paddedFlag, n), freed: make(chan struct{}, n)}
	for range n {
		c, err := Dial[Req, Resp](name, opts)
		if err != nil {
			p.Close()
			return nil, err
		}
		p.conns = append(p.conns, c)
	}
	return p, nil
}

// Call is Conn.Call on a free Conn of the pool; safe from any number of
// goroutines. Waiting for a free Conn counts against deadline (ErrTimeout).
func (p *Pool[Req, Resp]) Call(deadline time.Time, req *Req, resp *Resp) error {
	i, err := p.take(deadline)
	if err != nil {
		return err
	}
	err = p.conns[i].Call(deadline, req, resp)
	p.give(i)
	return err
}

// takeYields is how many times take yields before it parks.
const takeYields = 16

// take returns the index of a Conn it marked busy.
func (p *Pool[Req, Resp]) take(deadline time.Time) (int, error) {
	for round := 0; ; round++ {
		if i, ok := p.look(); ok {
			return i, nil
		}
		if round < takeYields {
			runtime.Gosched()
			continue
		}
		if !deadline.IsZero() && time.Now().After(deadline) {
			return 0, ErrTimeout
		}
		if i, ok := p.park(deadline); ok {
			return i, nil
		}
	}
}

// look takes a free Conn, if there is one.
func (p *Pool[Req, Resp]) look() (int, bool) {
	n := uint64(len(p.conns))
	start := p.next.Add(1)
	for k := range n {
		i := (start + k) % n
		if p.busy[i].v.CompareAndSwap(0, 1) {
			return int(i), true
		}
	}
	return 0, false
}

// park waits for a Conn given back, or deadline (zero: none); it takes
// one if it can.
func (p *Pool[Req, Resp]) park(deadline time.Time) (int, bool) {
	// SYNC: waiting, then the flags (look); give stores a flag, then
	// loads waiting. Both sequentially consistent: either this look sees
	// the Conn given back, or give sees waiting and leaves a token.
	p.waiting.Add(1)
	defer p.waiting.Add(-1)
	if i, ok := p.look(); ok {
		return i, true
	}
	if deadline.IsZero() {
		<-p.freed
		return p.look()
	}
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	select {
	case <-p.freed:
		return p.look()
	case <-t.C:
		return 0, false
	}
}

// give gives Conn i back, and wakes a parked call if there is one (a token
// it may find taken already: it looks again).
func (p *Pool[Req, Resp]) give(i int) {
	// SYNC: release of the Conn; pairs with the CAS in look.
	p.busy[i].v.Store(0)
	if p.waiting.Load() > 0 {
		select {
		case p.freed <- struct{}{}:
		default: // as many tokens as Conns wait already
		}
	}
}

// Len returns the number of Conns.
func (p *Pool[Req, Resp]) Len() int { return len(p.conns) }

// Close closes every Conn; calls under way end with ErrClosed.
func (p *Pool[Req, Resp]) Close() error {
	var first error
	for _, c := range p.conns {
		if err := c.Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}
