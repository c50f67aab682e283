package link

import (
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/spinwire/spinwire/asm"
	"github.com/spinwire/spinwire/internal/msg"
	"github.com/spinwire/spinwire/layout"
)

// PushConn is a Conn that also takes the server's pushes (push.go): a
// ring of one-way messages of type P on the connection, which TryRecv,
// Recv and Drain take in the order the server pushed them. Like the
// Conn's calls, they are for one goroutine at a time — the same one that
// makes the calls, or one that takes turns with it; a client that
// receives in one goroutine and calls in another uses two connections.
// Pushes still in the ring when the server dies are taken first (unless a
// call has moved the Conn to its next attachment meanwhile); then the
// receive methods return ErrPeerGone, once for Recv, which then waits for
// the reconnection as Call does. The next attachment's ring starts empty:
// a push not written before the server died is lost, never duplicated.
type PushConn[Req, Resp, P any] struct {
	*Conn[Req, Resp]
	parkMsg  *P
	pollRecv func() (bool, error) // pollPush, made once
}

// DialPush is Dial for a server that pushes messages of type P
// (ListenPush): P must match the server's as Req and Resp do, or DialPush
// fails with a *layout.MismatchError naming the field; a server with no
// push type refuses with an error wrapping ErrNoPush.
func DialPush[Req, Resp, P any](name string, opts DialOptions) (*PushConn[Req, Resp, P], error) {
	pushS, err := layout.Of[P]()
	if err != nil {
		return nil, err
	}
	if pushStride(pushS.Size) > maxPushStride {
		return nil, msg.Errorf("%w: push type %s of %d bytes (at most %d)", ErrBadOption, pushS.Name, pushS.Size, maxPushStride-pushTrailer)
	}
	c, err := dialWith[Req, Resp](name, opts, pushS)
	if err != nil {
		return nil, err
	}
	pc := &PushConn[Req, Resp, P]{Conn: c}
	pc.pollRecv = pc.pollPush
	return pc, nil
}

// TryRecv takes the next push into m if there is one, without waiting.
// It returns ErrPeerGone when the server has gone and its ring is empty
// (and while the Conn reconnects), an error wrapping ErrCorrupt when the
// ring holds what no correct server writes (the Conn then redials), and
// ErrClosed after Close. Cost: one load when the ring is empty; a copy of
// P and a release store when not. No allocation.
func (c *PushConn[Req, Resp, P]) TryRecv(m *P) (bool, error) {
	if !c.enter() {
		return false, ErrClosed
	}
	defer c.leave()
	a, err := c.recvFrom(false, time.Time{})
	if err != nil {
		return false, err
	}
	got, err := recvOn(a, m)
	return got, c.failed(a, err)
}

// Recv waits for the next push and takes it into m: it spins for
// DialOptions.SpinFor, then parks until the process's client poller finds
// it, or until deadline (ErrTimeout; the zero time: none). While the Conn
// reconnects it waits for it as Call does. Errors as TryRecv's. No
// allocation.
func (c *PushConn[Req, Resp, P]) Recv(deadline time.Time, m *P) error {
	if !c.enter() {
		return ErrClosed
	}
	defer c.leave()
	a, err := c.recvFrom(true, deadline)
	if err != nil {
		return err
	}
	start := asm.Ticks()
	for i := 1; ; i++ {
		got, err := recvOn(a, m)
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
	c.parkMsg = m
	err = c.park(c.pollRecv, deadline)
	c.parkMsg = nil
	if err == ErrTimeout {
		c.stats.timeouts.Add(1)
	}
	return c.failed(a, err)
}

// pollPush is the client poller's look for a parked Recv's push.
func (c *PushConn[Req, Resp, P]) pollPush() (bool, error) {
	if c.closing.Load() {
		return false, ErrClosed
	}
	return recvOn(c.cur, c.parkMsg)
}

// Drain hands up to max pushes (max ≤ 0: all there are) to fn, in order,
// without waiting, and reports how many. fn gets the message in the ring
// itself, valid until it returns: copy what it keeps. The client's
// Position is published once, after the last, so a batch costs the
// server's view of it one store. For an agent's duty cycle. Errors as
// TryRecv's, after the messages before them.
func (c *PushConn[Req, Resp, P]) Drain(max int, fn func(*P)) (int, error) {
	if !c.enter() {
		return 0, ErrClosed
	}
	defer c.leave()
	a, err := c.recvFrom(false, time.Time{})
	if err != nil {
		return 0, err
	}
	n := 0
	for max <= 0 || n < max {
		slot, e := a.pushReady()
		if slot == nil {
			err = e
			if err == nil && n == 0 && a.gone() {
				a.pushEnded, err = true, ErrPeerGone
			}
			break
		}
		fn((*P)(slot))
		a.recvPos++
		n++
	}
	if n > 0 {
		// SYNC: release of the slots taken; pairs with the acquire in claim.
		asm.StoreRelease64(a.push.pos, a.recvPos)
	}
	return n, c.failed(a, err)
}

// recvOn takes a's next push into m, if there is one; ErrPeerGone when
// there is none and the server has gone.
func recvOn[P any](a *attachment, m *P) (bool, error) {
	slot, err := a.pushReady()
	if slot == nil {
		if err == nil && a.gone() {
			a.pushEnded, err = true, ErrPeerGone
		}
		return false, err
	}
	*m = *(*P)(slot)
	a.recvPos++
	// SYNC: release of the slot taken; pairs with the acquire in claim.
	asm.StoreRelease64(a.push.pos, a.recvPos)
	return true, nil
}

// pushReady returns the slot of a's next push if it is there, nil if not
// yet; any other sequence word is corruption (a.broken).
func (a *attachment) pushReady() (unsafe.Pointer, error) {
	r, p := &a.push, a.recvPos
	if r.pos == nil {
		return nil, ErrNoPush
	}
	// SYNC: acquire of the message; pairs with the release in commit.
	switch s, lap := atomic.LoadUint64(r.seq(p)), r.lap(p); s {
	case lap + 1:
		return r.slot(p), nil
	case lap:
		return nil, nil
	default:
		a.broken = msg.Errorf("%w: push slot of position %d holds sequence %d (want %d or %d)", ErrCorrupt, p, s, lap, lap+1)
		return nil, a.broken
	}
}

// recvFrom returns the attachment to take pushes from: the current one,
// even once its server has died, until its ring has been found empty
// (pushEnded: the receive methods said ErrPeerGone); then the next, as
// usable finds it, or as await waits for it when wait is set.
func (c *Conn[Req, Resp]) recvFrom(wait bool, deadline time.Time) (*attachment, error) {
	if a := c.cur; a != nil && a.push.pos != nil && a.broken == nil && !a.pushEnded && a.dead.Load() {
		return a, nil
	}
	if wait {
		return c.await(deadline)
	}
	return c.usable()
}
