package link

import (
	"time"

	"github.com/spinwire/spinwire/asm"
)

// Call sends req and waits for its response, copied into resp. It spins
// for DialOptions.SpinFor, then parks until the process's client poller
// brings the response, the deadline passes (ErrTimeout; the zero time
// means none) or the server dies (ErrPeerGone). Responses to earlier calls
// that timed out are discarded when they arrive. Every call ends in
// exactly one response or one error; a response is never delivered to the
// wrong call (its correlation id is checked). When every call slot is
// taken (by one-way messages the server has not handled yet, say), Call
// waits for one until the deadline. No allocation.
func (c *Conn[Req, Resp]) Call(deadline time.Time, req *Req, resp *Resp) error {
	a, err := c.await(deadline)
	if err != nil {
		return err
	}
	id, err := sendOn(a, req)
	if err == ErrFull {
		id, err = c.sendWhenFree(a, req, deadline)
	}
	if err != nil {
		return err
	}
	start := asm.Ticks()
	for i := 1; ; i++ {
		got, err := take(a, id, resp)
		if got || err != nil {
			return err
		}
		if i&63 == 0 && asm.Ticks()-start > c.spinTicks {
			break
		}
		asm.Pause()
	}
	return c.park(id, deadline, resp)
}

// sendWhenFree waits for a call slot — the server still holds earlier
// one-way messages, or calls that timed out still hold slots (their
// responses are taken and dropped here) — until deadline.
func (c *Conn[Req, Resp]) sendWhenFree(a *attachment, req *Req, deadline time.Time) (uint64, error) {
	for i := 0; ; i++ {
		if _, err := pollOn(a, 0, func(uint64, *Resp) {}); err != nil {
			return 0, err
		}
		id, err := sendOn(a, req)
		if err != ErrFull {
			return id, err
		}
		if i&255 == 255 && !deadline.IsZero() && time.Now().After(deadline) {
			return 0, ErrTimeout
		}
		asm.Pause()
	}
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
	if got {
		return true, nil
	}
	return false, err
}
