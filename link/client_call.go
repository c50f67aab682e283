package link

import (
	"context"
	"time"

	"github.com/spinwire/spinwire/asm"
	"github.com/spinwire/spinwire/internal/msg"
)

// Call sends req and waits for its response, copied into resp. It spins
// for DialOptions.SpinFor, then parks until the process's client poller
// brings the response, the deadline passes (ErrTimeout; the zero time
// means none: it waits, parked), the server dies (ErrPeerGone) or the Conn
// is closed (ErrClosed). Responses to earlier calls that timed out are
// discarded when they arrive. Every call ends in exactly one response or
// one error; a response is never delivered to the wrong call (its
// correlation id and the attachment's tag are checked). When every call
// slot is taken (by one-way messages the server has not handled yet,
// say), Call waits for one the same way: spinning for SpinFor, then
// parked. On corrupt shared state Call returns an error wrapping
// ErrCorrupt and the Conn gives up that attachment and redials (ConnStats,
// OnState). No allocation.
func (c *Conn[Req, Resp]) Call(deadline time.Time, req *Req, resp *Resp) error {
	if !c.enter() {
		return ErrClosed
	}
	var t0 uint64
	if c.opts.Latency != nil {
		if c.sampled++; c.sampled%LatencyEvery == 0 {
			t0 = asm.Ticks()
		}
	}
	err := c.call(deadline, req, resp)
	if err == ErrTimeout {
		c.stats.timeouts.Add(1)
	}
	if t0 != 0 && err == nil {
		c.opts.Latency.Record(int64(float64(asm.Ticks()-t0) * 1e9 / asm.TicksPerSecond()))
	}
	c.leave()
	return err
}

// CallContext is Call with ctx's deadline (none if it has none) and
// cancellation: a call under way when ctx is done returns ctx.Err() — its
// slot stays reserved until the response comes, which is dropped, as for
// ErrTimeout. The context is looked at only before the call and while it
// waits parked or for a reconnection, so a call answered while spinning
// costs what Call costs (BenchmarkCallContext). No allocation.
func (c *Conn[Req, Resp]) CallContext(ctx context.Context, req *Req, resp *Resp) error {
	done := ctx.Done()
	if done != nil {
		select {
		case <-done:
			return ctx.Err()
		default:
		}
	}
	deadline, _ := ctx.Deadline()
	if !c.enter() {
		return ErrClosed
	}
	if done != nil {
		c.ctx = ctx
	}
	err := c.call(deadline, req, resp)
	c.ctx = nil
	c.leave()
	if err == ErrTimeout || (err != nil && err == ctx.Err()) {
		c.stats.timeouts.Add(1)
	}
	if err == ErrTimeout {
		// The call's own clock may pass the deadline a moment before the
		// context's timer marks it done.
		if e := ctx.Err(); e != nil {
			return e
		}
		if !deadline.IsZero() {
			return context.DeadlineExceeded
		}
	}
	return err
}

func (c *Conn[Req, Resp]) call(deadline time.Time, req *Req, resp *Resp) error {
	a, err := c.await(deadline)
	if err != nil {
		return err
	}
	id, err := sendOn(a, req)
	if err == ErrFull {
		id, err = c.sendWhenFree(a, req, deadline)
	}
	if err != nil {
		return c.failed(a, err)
	}
	start := asm.Ticks()
	for i := 1; ; i++ {
		got, err := take(a, id, resp)
		if got {
			return nil
		}
		if err != nil {
			return c.failed(a, err)
		}
		if i&63 == 0 && asm.Ticks()-start > c.spinTicks {
			break
		}
		asm.Pause()
	}
	c.parkID, c.parkResp = id, resp
	err = c.park(c.pollTake, deadline)
	c.parkResp = nil
	if err != nil && a.broken == nil {
		a.abandon(id) // its response, if it comes, is dropped
	}
	return c.failed(a, err)
}

// sendWhenFree waits for a call slot — the server still holds earlier
// one-way messages, or calls that timed out still hold slots (their
// responses are taken and dropped here) — spinning for SpinFor, then
// parked, until deadline.
func (c *Conn[Req, Resp]) sendWhenFree(a *attachment, req *Req, deadline time.Time) (uint64, error) {
	start := asm.Ticks()
	for i := 1; ; i++ {
		if _, err := pollOn(a, 0, func(uint64, *Resp) {}); err != nil {
			return 0, err
		}
		id, err := sendOn(a, req)
		if err != ErrFull {
			return id, err
		}
		if i&63 == 0 && asm.Ticks()-start > c.spinTicks {
			break
		}
		asm.Pause()
	}
	c.parkReq = req
	err := c.park(c.pollSend, deadline)
	c.parkReq = nil
	if err == ErrTimeout && a.broken == nil && a.stuck() {
		// Every slot is held, the oldest by a call that gave up: the
		// server may never answer it (defer.go). Give up the attachment.
		a.broken = msg.Errorf("%w: every call slot is held by calls still unanswered, the oldest abandoned", ErrTimeout)
	}
	return c.parkID, err
}

// take consumes responses up to the one for id; it reports whether that
// one arrived (copied into resp).
func take[Resp any](a *attachment, id uint64, resp *Resp) (bool, error) {
	got := false
	_, err := pollOn(a, 0, func(rid uint64, r *Resp) {
		if rid == id {
			*resp = *r
			got = true
		}
	})
	if got || err != nil {
		return got, err
	}
	return takeOut(a, id, resp)
}

// failed is the error a call of a returns for err: ErrClosed once Close
// has begun, else err. When a found corrupt shared state, the Conn gives a
// up first (breakOff).
func (c *Conn[Req, Resp]) failed(a *attachment, err error) error {
	if a.broken != nil {
		c.breakOff(a)
	}
	if err != nil && err != ErrTimeout && c.closing.Load() {
		return ErrClosed
	}
	return err
}
