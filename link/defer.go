package link

import (
	"runtime"
	"sync/atomic"

	"github.com/spinwire/spinwire/internal/msg"
)

// Deferred replies. A ServeCaller handler that cannot answer at once calls
// Caller.Defer: the poller then leaves the call's slot as it is — the
// request is ready, no response yet — and goes on to the next request.
// Whoever holds the Deferred answers later, from any goroutine, with
// Server.Reply, which writes the response into the slot and releases it
// to the client, as the poller would have. The client cannot reuse the
// slot before that: its position p is taken until a response is there
// (callring.go), so the slot stays reserved, and the poller takes 2p+1
// found at the position p+Depth for "not sent yet".
//
// Exactly once. Each connection that defers gets a table of Depth words
// (connExt.deferred, allocated at its first Defer): Defer stores p+1 in
// the word of p's slot, Reply swaps it back to 0 (CAS), so a second Reply
// of the same Deferred, or one for a position the slot has since moved
// past, finds another value and is refused (ErrReplied). A Reply for a
// connection that has gone (its client closed or died, or the server
// dropped it) is refused with ErrPeerGone: sconn records are never
// reused, so the pointer in the Deferred names one connection only.
//
// Against the connection's release. Reply writes into the arena, which is
// unmapped, and whose slots are given to other connections, once the
// connection is freed. Reply announces itself (replying.Add(1)), then
// loads the state; free stores the state (closing), then waits for
// replying to read 0. Both are sync/atomic operations, sequentially
// consistent, so either Reply sees closing and writes nothing, or free
// sees it and waits the few nanoseconds of its copy.

// connExt is what a connection needs only once it defers or is dropped:
// allocated then, so that a plain connection's record stays 64 bytes.
type connExt struct {
	why      atomic.Pointer[string]    // why a poller dropped it
	deferred []atomic.Uint64           // per slot: p+1 while p is deferred, else 0
	replying atomic.Int32              // Replies under way (see above)
	push     atomic.Pointer[pushState] // made at the first Push (push.go)
}

// extOf returns c's connExt, making it if needed (any goroutine).
func (c *sconn) extOf(depth uint64) *connExt {
	if x := c.ext.Load(); x != nil {
		return x
	}
	x := &connExt{deferred: make([]atomic.Uint64, depth)}
	if c.ext.CompareAndSwap(nil, x) {
		return x
	}
	return c.ext.Load()
}

// Deferred is a call whose answer the handler put off: give it to
// Server.Reply, once. It is a small value, copied freely, made without
// allocating; its zero value and that of a one-way request (nothing to
// answer) make Reply return nil and do nothing.
type Deferred struct {
	c   *sconn
	pos uint64
}

// Defer takes the call out of the handler's hands: when the handler
// returns, the poller writes no response, and the call's slot stays
// reserved until Server.Reply answers it (from any goroutine, before the
// caller's deadline if the caller is to see it). The handler must not
// write the response it was given after Defer. A call never answered
// holds its slot until the connection goes: its caller times out, and a
// Conn whose every slot is held so redials (ConnStats.Stuck). Cost: one
// atomic store; the first Defer of a connection allocates its table of
// Depth words. Only within the handler.
func (c *Caller) Defer() Deferred {
	if c.oneWay || c.deferred {
		return Deferred{}
	}
	r, _, _ := c.c.ring()
	x := c.c.extOf(r.depth)
	// SYNC: release of the table word to Reply's CAS; the Deferred
	// reaches the replying goroutine through whatever hands it over.
	x.deferred[c.pos&r.mask].Store(c.pos + 1)
	c.deferred = true
	c.s.stats.deferred.Add(1)
	return Deferred{c: c.c, pos: c.pos}
}

// Reply answers a Deferred call with resp: it copies resp into the call's
// slot and releases it to the client. It returns ErrReplied if the call
// was answered already, and ErrPeerGone if its connection has gone (the
// client timed out and redialled, closed, or died; or the server closed);
// both are counted
// (ServerStats.LateReplies) and write nothing. Safe from any goroutine;
// cost: a copy of Resp, three atomic read-modify-writes and a release
// store (BenchmarkDeferredCall). No allocation.
func (s *Server[Req, Resp]) Reply(d Deferred, resp *Resp) error {
	c := d.c
	if c == nil {
		return nil
	}
	x := c.ext.Load() // made by Defer, before d existed
	x.replying.Add(1)
	defer x.replying.Add(-1)
	if c.state.Load() != connActive {
		s.stats.lateReplies.Add(1)
		return msg.Errorf("%w: the connection of the deferred call (pid %d, slot %d) has gone", ErrPeerGone, c.pid, c.index)
	}
	r, _, _ := c.ring()
	if !x.deferred[d.pos&r.mask].CompareAndSwap(d.pos+1, 0) {
		s.stats.lateReplies.Add(1)
		return ErrReplied
	}
	*(*Resp)(r.slot(d.pos)) = *resp
	r.answer(d.pos)
	s.stats.replies.Add(1)
	return nil
}

// awaitReplies waits until no Reply writes into c's slots: c's state is
// closing already (free). A Reply's section is a copy and a few atomic
// operations, so this yields a few times at most.
func (c *sconn) awaitReplies() {
	if x := c.ext.Load(); x != nil {
		for x.replying.Load() != 0 {
			runtime.Gosched()
		}
	}
}
