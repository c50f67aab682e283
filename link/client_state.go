package link

import (
	"errors"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// State is a Conn's connection state.
type State int32

const (
	Connected    State = iota // attached to a live server
	Reconnecting              // the server went away; redialling with backoff
	Closed                    // Close was called
)

func (s State) String() string {
	switch s {
	case Connected:
		return "connected"
	case Reconnecting:
		return "reconnecting"
	}
	return "closed"
}

// died is the death watch's call when an attachment's socket closes (its
// dead flag is already set): the state turns Reconnecting at once (OnState
// is called here, on the death watch's goroutine) and a goroutine redials.
// If the state is Reconnecting already, the redial in progress sees the
// flag when it finishes and goes round again.
func (c *Conn[Req, Resp]) died() {
	if c.state.CompareAndSwap(int32(Connected), int32(Reconnecting)) {
		if c.opts.OnState != nil {
			c.opts.OnState(Reconnecting, nil)
		}
		// The first attempt waits too: a server that has just died is
		// not back yet. A timer, not a goroutine, until then: every Conn
		// of the process lands here at once, and waking threads for
		// goroutines that would only sleep would keep the CPUs from the
		// other client processes still learning of the death.
		time.AfterFunc(jitter(time.Millisecond), func() { c.redial(2 * time.Millisecond) })
	}
}

// jitter returns a duration between half and all of d.
func jitter(d time.Duration) time.Duration {
	return d/2 + time.Duration(rand.Int64N(int64(d/2)+1))
}

// redial reconnects with backoff (doubling to maxRedialBackoff, with
// jitter) until it succeeds or the Conn closes; it attempts at once, then
// waits backoff. OnState hears of a failed attempt only when its error
// differs from the last one reported.
func (c *Conn[Req, Resp]) redial(backoff time.Duration) {
	lastErr := ""
	for {
		c.mu.Lock()
		closed := c.closed
		c.mu.Unlock()
		if closed {
			return
		}
		a, err := c.attach()
		if err == nil {
			c.stats.redials.Add(1)
			c.mu.Lock()
			if c.closed {
				c.mu.Unlock()
				a.release()
				return
			}
			// The state says Connected before the attachment is there to
			// take: a caller that takes it and gives it up at once
			// (breakOff) must find Connected, or nobody redials. Under mu,
			// so that it cannot land after Close's Closed.
			was := State(c.state.Swap(int32(Connected)))
			// SYNC: release of the new attachment; the caller goroutine
			// picks it up with the Swap in usable.
			if old := c.next.Swap(a); old != nil {
				old.release() // never used
			}
			c.mu.Unlock()
			if h := redialHook.Load(); h != nil {
				(*h)(c)
			}
			if was != Connected && c.opts.OnState != nil {
				c.opts.OnState(Connected, nil)
			}
			// The new server may have died already, while the state still
			// said Reconnecting: its death watch then left the redial to
			// us. Whoever turns the state back to Reconnecting redials.
			if a.dead.Load() {
				if !c.state.CompareAndSwap(int32(Connected), int32(Reconnecting)) {
					return
				}
				if c.opts.OnState != nil {
					c.opts.OnState(Reconnecting, nil)
				}
				continue
			}
			select {
			case c.wake <- struct{}{}:
			default:
			}
			return
		}
		c.stats.attempts.Add(1)
		// One report per change: the first failure, and one whose error
		// differs from the last reported; not one per attempt.
		if text := err.Error(); c.opts.OnState != nil && text != lastErr {
			lastErr = text
			c.opts.OnState(Reconnecting, err)
		}
		time.Sleep(jitter(backoff))
		backoff = min(2*backoff, maxRedialBackoff)
	}
}

// redialHook, if set (by tests), is called by redial with the Conn once
// it has installed a new attachment.
var redialHook atomic.Pointer[func(any)]

// maxRedialBackoff bounds the wait between reconnection attempts: they
// start 2 ms apart (a restarting server is back within milliseconds) and
// double up to this during a long outage.
const maxRedialBackoff = 500 * time.Millisecond

func (c *Conn[Req, Resp]) setState(s State) {
	if State(c.state.Swap(int32(s))) != s && c.opts.OnState != nil {
		c.opts.OnState(s, nil)
	}
}

// State returns the connection state.
func (c *Conn[Req, Resp]) State() State { return State(c.state.Load()) }

// Epoch returns the server incarnation the Conn is attached to now (0
// while reconnecting or closed). For the goroutine that makes the calls.
func (c *Conn[Req, Resp]) Epoch() uint64 {
	if !c.enter() {
		return 0
	}
	defer c.leave()
	if a, _ := c.usable(); a != nil {
		return a.epoch
	}
	return 0
}

// usable returns the attachment to use now, switching to a new one when
// the redialler has installed it. err is ErrPeerGone when the server is
// gone, or the attachment was given up for corruption, and no new
// attachment is ready; ErrClosed after Close.
func (c *Conn[Req, Resp]) usable() (*attachment, error) {
	a := c.cur
	if a != nil && a.broken == nil && !a.dead.Load() {
		return a, nil
	}
	if c.State() == Closed {
		return nil, ErrClosed
	}
	if n := c.next.Swap(nil); n != nil {
		if a != nil {
			a.release()
		}
		c.cur = n
		return n, nil
	}
	return nil, ErrPeerGone
}

// await waits for a reconnection until deadline (the zero time: none).
func (c *Conn[Req, Resp]) await(deadline time.Time) (*attachment, error) {
	for {
		a, err := c.usable()
		if err != ErrPeerGone || c.opts.FailFast {
			return a, err
		}
		var timeout <-chan time.Time
		if !deadline.IsZero() {
			d := time.Until(deadline)
			if d <= 0 {
				return nil, ErrTimeout
			}
			t := time.NewTimer(d)
			defer t.Stop()
			timeout = t.C
		}
		var cancel <-chan struct{}
		if c.ctx != nil {
			cancel = c.ctx.Done()
		}
		select {
		case <-c.wake:
		case <-timeout:
			return nil, ErrTimeout
		case <-cancel:
			return nil, c.ctx.Err()
		}
	}
}

// breakOff gives up attachment a, on which a call found corrupt shared
// state (a.broken): it stops watching a's socket and shuts it down — the
// server sees the connection close and frees its slot — counts it
// (ConnStats.Corrupt), tells OnState (Reconnecting, with the error) and
// redials as after a server's death. The caller's goroutine; once per
// attachment. The next call waits for the new attachment (or fails fast
// with ErrPeerGone under DialOptions.FailFast).
func (c *Conn[Req, Resp]) breakOff(a *attachment) {
	if a.given {
		return
	}
	a.given = true
	if errors.Is(a.broken, ErrCorrupt) {
		c.stats.corrupt.Add(1)
	} else {
		c.stats.stuck.Add(1)
	}
	unwatchDeath(a.fd)
	unix.Shutdown(a.fd, unix.SHUT_RDWR)
	redial := c.state.CompareAndSwap(int32(Connected), int32(Reconnecting))
	if c.opts.OnState != nil && c.State() == Reconnecting {
		c.opts.OnState(Reconnecting, a.broken)
	}
	if redial {
		time.AfterFunc(jitter(time.Millisecond), func() { c.redial(2 * time.Millisecond) })
	}
}

type connStats struct {
	redials, corrupt, parks, attempts, stuck, timeouts atomic.Uint64
}

// ConnStats are a Conn's counters.
type ConnStats struct {
	// Redials counts attachments made after the first: after the server
	// went away, or after the Conn gave one up for corruption.
	Redials uint64
	// Corrupt counts attachments the Conn gave up because a call found
	// what no correct server writes in its slots (ErrCorrupt).
	Corrupt uint64
	// Parks counts calls that stopped spinning and waited, parked, for the
	// process's client poller: after DialOptions.SpinFor without a
	// response, or without a free call slot.
	Parks uint64
	// Attempts counts reconnection attempts that failed.
	Attempts uint64
	// Stuck counts attachments the Conn gave up because every call slot
	// was held by calls the server had not answered, the oldest one
	// abandoned by its caller (a deferred call never answered, defer.go).
	Stuck uint64
	// Timeouts counts calls and receives that ended at their deadline
	// (ErrTimeout) or with their context done.
	Timeouts uint64
}

// Stats returns the Conn's counters: an atomic load each.
func (c *Conn[Req, Resp]) Stats() ConnStats {
	return ConnStats{Redials: c.stats.redials.Load(), Corrupt: c.stats.corrupt.Load(), Parks: c.stats.parks.Load(),
		Attempts: c.stats.attempts.Load(), Stuck: c.stats.stuck.Load(), Timeouts: c.stats.timeouts.Load()}
}
