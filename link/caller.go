package link

import (
	"time"

	"github.com/spinwire/spinwire/internal/msg"
)

// Caller is the connection a request came on, as a ServeCaller handler
// sees it: who called, since when, and a way to drop the connection. A
// handler gets the poller's own Caller, valid until it returns; copy the
// values it keeps. No allocation per call.
type Caller struct {
	c        *sconn
	s        *server
	pos      uint64 // the call's position
	oneWay   bool   // the request is one way: nothing to defer
	deferred bool   // Defer was called
}

// PID returns the calling process's pid (SO_PEERCRED at the accept).
func (c *Caller) PID() int32 { return c.c.pid }

// UID returns the caller's uid.
func (c *Caller) UID() uint32 { return c.c.uid }

// GID returns the caller's gid.
func (c *Caller) GID() uint32 { return c.c.gid }

// Index returns the connection's slot in its process's arena: with PID
// and Since, it tells connections apart.
func (c *Caller) Index() int { return int(c.c.index) }

// Since returns when the connection was accepted.
func (c *Caller) Since() time.Time { return time.Unix(0, c.c.started) }

// Info returns the connection's ConnInfo.
func (c *Caller) Info() ConnInfo { return c.c.info() }

// Close drops the connection once the handler returns (its response to
// this request is still written): the client's calls then fail with
// ErrPeerGone and it redials; OnDisconnect gets reason.
func (c *Caller) Close(reason string) {
	c.s.dropFor(c.c, "closed by the handler: "+reason, &c.s.stats.kicked)
}

// ServeCaller is Serve with a handler that also gets the Caller. A
// server uses Serve or ServeCaller, once.
func (s *Server[Req, Resp]) ServeCaller(handler func(c *Caller, req *Req, resp *Resp)) error {
	if handler == nil {
		return msg.Errorf("%w: nil handler", ErrBadOption)
	}
	return s.serve(nil, handler)
}

// Conns returns the connections attached now, for an operator: each one's
// process, uid, gid, slot and accept time. Safe from any goroutine; it
// allocates the list.
func (s *server) Conns() []ConnInfo {
	var out []ConnInfo
	for _, d := range *s.arenas.Load() {
		for i := range 64 * int(d.words.Load()) {
			if c := d.conn(i); c != nil && c.state.Load() == connActive {
				out = append(out, c.info())
			}
		}
	}
	return out
}
