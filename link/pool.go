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
// waits; when every Conn is busy it yields and looks again, until its
// deadline. Cost over Conn.Call: an atomic add, a CAS and a store
// (BenchmarkPool). No allocation.
type Pool[Req, Resp any] struct {
	conns []*Conn[Req, Resp]
	busy  []paddedFlag
	next  atomic.Uint64
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
	p := &Pool[Req, Resp]{busy: make([]paddedFlag, n)}
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
	// SYNC: release of the Conn; pairs with the CAS in take.
	p.busy[i].v.Store(0)
	return err
}

// take returns the index of a Conn it marked busy.
func (p *Pool[Req, Resp]) take(deadline time.Time) (int, error) {
	n := uint64(len(p.conns))
	for round := 0; ; round++ {
		start := p.next.Add(1)
		for k := range n {
			i := (start + k) % n
			if p.busy[i].v.CompareAndSwap(0, 1) {
				return int(i), nil
			}
		}
		if round&15 == 15 && !deadline.IsZero() && time.Now().After(deadline) {
			return 0, ErrTimeout
		}
		runtime.Gosched()
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
