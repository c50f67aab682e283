package link

import (
	"context"
	"sync"
	"time"

	"github.com/spinwire/spinwire/asm"
	"github.com/spinwire/spinwire/spin"
)

// waitState is a parked call, as the process's client poller sees it.
type waitState struct {
	done     chan error      // buffered 1: the poller's verdict
	deadline uint64          // ticks; 0: none
	ctx      context.Context // CallContext's, or nil: the wait ends with ctx.Err() once it is done
	poll     func() (bool, error)
	next     *waitState
}

// park hands the wait to the client poller, which calls poll until it
// reports done or an error, or until deadline (the zero time: none), and
// blocks until then. The caller's goroutine sleeps meanwhile; the poller
// spins briefly and then sleeps between looks (poller.run).
func (c *Conn[Req, Resp]) park(poll func() (bool, error), deadline time.Time) error {
	c.w.deadline = 0
	if !deadline.IsZero() {
		d := time.Until(deadline)
		if d <= 0 {
			return ErrTimeout
		}
		c.w.deadline = asm.Ticks() + uint64(d.Seconds()*asm.TicksPerSecond())
	}
	c.w.poll = poll
	c.w.ctx = c.ctx
	c.stats.parks.Add(1)
	clientPoller.add(&c.w)
	return <-c.w.done
}

// pollParked is the client poller's look for the response of a parked
// Call.
func (c *Conn[Req, Resp]) pollParked() (bool, error) {
	if c.closing.Load() {
		return false, ErrClosed
	}
	return take(c.cur, c.parkID, c.parkResp)
}

// pollFree is the client poller's try at sending the request of a Call
// that waits for a free call slot; the id goes to parkID.
func (c *Conn[Req, Resp]) pollFree() (bool, error) {
	if c.closing.Load() {
		return false, ErrClosed
	}
	a := c.cur
	if _, err := pollOn(a, 0, func(uint64, *Resp) {}); err != nil {
		return false, err
	}
	id, err := sendOn(a, c.parkReq)
	switch err {
	case nil:
		c.parkID = id
		return true, nil
	case ErrFull:
		return false, nil
	}
	return false, err
}

// ---- the process's client poller ----

// poller serves parked calls of every Conn in the process: one goroutine
// that polls them, ends them on success, deadline, death or Close, and
// sleeps (Backoff: up to 500 µs between looks) when nothing moves. With
// nothing parked it blocks on kick.
type poller struct {
	mu      sync.Mutex
	head    *waitState
	kick    chan struct{}
	started bool
}

var clientPoller = &poller{kick: make(chan struct{}, 1)}

func (p *poller) add(w *waitState) {
	p.mu.Lock()
	w.next = p.head
	p.head = w
	if !p.started {
		p.started = true
		go p.run()
	}
	p.mu.Unlock()
	p.kickNow()
}

// kickNow wakes the poller if it is blocked with nothing parked.
func (p *poller) kickNow() {
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

func (p *poller) run() {
	idle := &spin.Backoff{Spins: 2000, Yields: 50, MinPark: 20 * time.Microsecond, MaxPark: 500 * time.Microsecond}
	for {
		p.mu.Lock()
		if p.head == nil {
			p.mu.Unlock()
			<-p.kick
			continue
		}
		work := 0
		now := asm.Ticks()
		for pp := &p.head; *pp != nil; {
			w := *pp
			got, err := w.poll()
			if !got && err == nil && w.deadline != 0 && now > w.deadline {
				err = ErrTimeout
			}
			if !got && err == nil && w.ctx != nil {
				err = w.ctx.Err()
			}
			if got || err != nil {
				*pp = w.next
				w.next = nil
				w.done <- err
				work++
				continue
			}
			pp = &w.next
		}
		p.mu.Unlock()
		idle.Idle(work)
	}
}
