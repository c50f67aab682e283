package link

import (
	"sync"
	"time"

	"github.com/spinwire/spinwire/asm"
	"github.com/spinwire/spinwire/spin"
)

// waitState is a parked Call, as the process's client poller sees it.
type waitState struct {
	done     chan error // buffered 1: the poller's verdict
	deadline uint64     // ticks; 0: none
	poll     func() (bool, error)
	next     *waitState
}

// park hands the wait to the client poller.
func (c *Conn[Req, Resp]) park(id uint64, deadline time.Time, resp *Resp) error {
	c.w.deadline = 0
	if !deadline.IsZero() {
		d := time.Until(deadline)
		if d <= 0 {
			return ErrTimeout
		}
		c.w.deadline = asm.Ticks() + uint64(d.Seconds()*asm.TicksPerSecond())
	}
	c.parkID, c.parkResp = id, resp
	clientPoller.add(&c.w)
	err := <-c.w.done
	c.parkResp = nil
	return err
}

// pollParked is the client poller's check of a parked Call.
func (c *Conn[Req, Resp]) pollParked() (bool, error) { return take(c.cur, c.parkID, c.parkResp) }

// ---- the process's client poller ----

// poller serves parked Calls of every Conn in the process: one goroutine
// that polls their response slots, ends them on response, deadline or
// death, and sleeps (Backoff) when nothing arrives.
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
