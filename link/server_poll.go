package link

import (
	"context"
	"errors"
	"runtime"
	"sync/atomic"
	"unsafe"

	"github.com/spinwire/spinwire/agent"
	"github.com/spinwire/spinwire/asm"
	"github.com/spinwire/spinwire/internal/msg"
	"golang.org/x/sys/unix"
)

// pollerState is a poller's counters: written by that poller (sweeps on
// every sweep), read by the epoll goroutine and Stats. Padded to two cache
// lines, so that two pollers' states never share one.
type pollerState struct {
	sweeps   atomic.Uint64
	running  atomic.Bool
	requests atomic.Uint64
	_        [128 - 24]byte
}

var _ = [1]struct{}{}[unsafe.Sizeof(pollerState{})-128]

// makePollers makes the pollers' state for Serve: their counters, agents
// and context.
func (s *server) makePollers() {
	n := s.opts.Pollers
	states := make([]pollerState, n)
	s.pollers = make([]*pollerState, n)
	s.agents = make([]agent.Agent, n)
	for i := range n {
		s.pollers[i] = &states[i]
		s.agents[i] = agent.Agent{Name: msg.Sprintf("link %s poller %d", s.name, i), Mode: s.opts.Mode, Logf: s.opts.Logf}
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.ctx.Done() // its channel made here, not on a poller (agent.Agent.Run)
	s.errc = make(chan error, n)
}

// Serve runs the pollers — Options.Pollers agent.Agents, pinned to
// Options.CPUs — calling handler for every request with a private copy of
// the request and the call's slot in shared memory, where the response
// goes (it still holds the request's bytes: handler must set every field
// of resp). handler must not keep either pointer, and should still treat
// req's values as hostile input: the copy is stable, its contents are the
// client's.
//
// Serve returns nil when Close is called, and a poller's error when one
// fails (a panic in handler, say: the error wraps agent.ErrPanic), after
// closing the server itself. Either way it returns only once the server
// is cleaned up: every poller has stopped, every connection is closed, and
// the socket and lock files are gone. On a closed server it waits for that
// too, and returns ErrClosed.
func (s *Server[Req, Resp]) Serve(handler func(req *Req, resp *Resp)) error {
	if handler == nil {
		return msg.Errorf("%w: nil handler", ErrBadOption)
	}
	return s.serve(handler, nil)
}

// serve runs the pollers with handler, or handlerC if not nil.
func (s *Server[Req, Resp]) serve(handler func(*Req, *Resp), handlerC func(*Caller, *Req, *Resp)) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		<-s.closeDone
		return msg.Errorf("%w: serve on a closed server", ErrClosed)
	}
	if s.serving {
		s.mu.Unlock()
		return msg.Errorf("%w: Serve called twice", ErrBadOption)
	}
	s.serving = true
	s.handler, s.handlerC = handler, handlerC
	for _, p := range s.pollers {
		p.running.Store(true)
	}
	s.mu.Unlock()
	for i := range s.pollers {
		go func() { s.errc <- s.runPoller(i) }()
	}
	var first error
	for range s.pollers {
		err := <-s.errc
		if errors.Is(err, agent.ErrStopped) && s.ctx.Err() != nil {
			err = nil // Close came before this poller started
		}
		if err != nil && first == nil {
			first = err
			s.cancel()
		}
	}
	// Only Close cancels s.ctx without an error: wait for its clean-up.
	// After a failure, close the server: no one would answer its clients.
	if first != nil {
		s.Close()
	}
	<-s.closeDone
	return first
}

// runPoller runs poller i on its agent.Agent, pinned to Options.CPUs[i] if
// there is one, until s.ctx ends or the agent fails; it returns the agent's
// error. Poller 0 also owns the server's liveness page and looks at the
// client processes' pages.
func (s *Server[Req, Resp]) runPoller(i int) error {
	p := s.pollers[i]
	defer p.running.Store(false)
	cpu := -1
	if i < len(s.opts.CPUs) {
		cpu = s.opts.CPUs[i]
	}
	duty := func() int { return s.sweep(i, p) }
	if i == 0 {
		// Poller 0's thread owns the liveness page. The Agent locks the
		// thread too and never unlocks it, so the disown below runs on the
		// same thread.
		runtime.LockOSThread()
		s.live.own()
		defer s.live.disown()
		duty = func() int { n := s.sweep(0, p); s.checkPeers(); return n }
	}
	return s.agents[i].Run(s.ctx, cpu, s.opts.Idler(), duty)
}

// sweep is one pass of poller i over its shard of every arena's doorbell
// words: in each arena, the words of the slots its process has ever used.
// It returns the requests answered.
func (s *Server[Req, Resp]) sweep(i int, p *pollerState) int {
	work := 0
	n := len(s.pollers)
	for _, d := range *s.arenas.Load() {
		// SYNC: acquire of the word count; pairs with its Store in take,
		// after the chunk's.
		words := int(d.words.Load())
		base := unsafe.Pointer(unsafe.SliceData(d.a.body[d.a.g.bellOff:]))
		for w := i; w < words; w += n {
			word := (*uint64)(unsafe.Add(base, 8*w))
			// SYNC: acquire of clients' doorbell bits; pairs with the
			// client's OR after it publishes (Conn.Send).
			if atomic.LoadUint64(word) == 0 {
				continue
			}
			ch := d.chunks[w].conns.Load() // installed: w < words
			rung := atomic.SwapUint64(word, 0)
			if rung&(rung-1) != 0 {
				prefetchRung(ch, rung)
			}
			for b := rung; b != 0; b &= b - 1 {
				if c := ch.active(b); c != nil {
					work += s.serveConn(c, &s.scratch[i])
				}
			}
		}
	}
	p.sweeps.Add(1)
	if work > 0 {
		p.requests.Add(uint64(work))
	}
	return work
}

// prefetchRung prefetches, for every active connection whose bit is set
// in rung, the line at the start of the slot of its next position c.pos
// (asm.Prefetch), before the first is served: served one by one, each
// request's first load waited for its own line from the client's CPU
// (perf: 87 % of callRing.request's samples on it). Called only when two
// or more bits are set: a lone request gains nothing. Cost: a ring lookup
// and a call per connection.
//
// For a client making one call at a time that line is not the request's:
// its request sits at the jump (the first slot, callring.go), the slot
// before c.pos's, and the prefetch most likely helps through the CPU's
// adjacent-line prefetcher, which fetches lines in 128-byte pairs. Yet it
// measured better than prefetching the jump's own line: on a Xeon host
// (family 6 model 207), pingpong -mode conns (1000 connections, closed
// loop, build/linkecho), alternating runs, M requests/s, medians (ranges):
// none 4.9 (3.4–8.3, 14 runs), c.pos's line 7.3 (4.4–9.1, 14), the
// jump's 5.8 (3.9–10.3, 11), the jump's 128-byte pair 5.2 (4.3–7.3, 4);
// c.pos's line faster than none in 13 of 14 pairs. -pipeline 8 and
// -rotate level.
func prefetchRung(ch *connChunk, rung uint64) {
	for b := rung; b != 0; b &= b - 1 {
		if c := ch.active(b); c != nil {
			r, _, _ := c.ring()
			asm.Prefetch(r.slot(c.pos), 64)
		}
	}
}

// scratch is a poller's private copy of the request being served, and the
// response of one-way requests (discarded), padded so that two pollers'
// copies never share a cache line.
type scratch[Req, Resp any] struct {
	req     Req
	resp    Resp
	caller  Caller // ServeCaller's view of the connection
	sampled uint64 // requests served, for Options.Latency
	_       [64]byte
}

// serveConn answers up to Depth requests of c: the fairness bound. The
// handler gets a private copy of the request — the client cannot change
// it under the handler — and writes its response straight into the call's
// slot, over the request. One-way requests run the handler with the
// scratch response. Cost per request: a copy of Req, the handler, one
// release store; when the next slot is not ready, one more load (the
// first slot, for a client's jump).
func (s *Server[Req, Resp]) serveConn(c *sconn, sc *scratch[Req, Resp]) int {
	r, bell, bit := c.ring()
	n := 0
	for range r.depth {
		p := c.pos
		// After a lone quiet request the next slot is not read (reading a
		// hole of the memfd allocates its page): the client jumps to its
		// first slot, or has set followsFlag on that request.
		st := slotNo
		if !c.lone {
			st = r.request(p)
		}
		if st == slotNo {
			// Not sent, unless the client jumped to its first slot
			// (callring.go): look there. A request there marked quiet was
			// sent with nothing in flight, so p … q−1 were never sent.
			if q := r.jumpPos(p); q != p && r.request(q) == slotYes && atomic.LoadUint64(r.id(q))&quietFlag != 0 {
				p, c.pos, st = q, q, slotYes
			} else if c.lone {
				st = r.request(p)
			}
		}
		switch st {
		case slotNo:
			return n
		case slotCorrupt:
			s.drop(c, msg.Sprintf("call slot %d: sequence %d at position %d", p&r.mask, r.loadSeq(p), p))
			return n
		}
		// SYNC: read once, atomically: the client may set followsFlag in
		// it (client.go, publishOn).
		id := atomic.LoadUint64(r.id(p))
		var t0 uint64
		if s.opts.Latency != nil {
			if sc.sampled++; sc.sampled%LatencyEvery == 0 {
				t0 = asm.Ticks()
			}
		}
		sc.req = *(*Req)(r.slot(p))
		resp := (*Resp)(r.slot(p))
		if id&oneWay != 0 {
			resp = &sc.resp
		}
		deferred := false
		if s.handlerC != nil {
			sc.caller = Caller{c: c, s: &s.server, pos: p, oneWay: id&oneWay != 0}
			s.handlerC(&sc.caller, &sc.req, resp)
			deferred = sc.caller.deferred
		} else {
			s.handler(&sc.req, resp)
		}
		switch {
		case id&oneWay != 0:
			r.done(p)
		case !deferred: // else Reply answers (defer.go)
			r.answer(p)
		}
		if t0 != 0 {
			s.opts.Latency.Record(int64(asm.TicksToNanos(asm.Ticks() - t0)))
		}
		c.pos = p + 1
		n++
		if c.lone = id&quietFlag != 0 && id&followsFlag == 0; c.lone {
			return n // nothing follows that the doorbell will not announce
		}
	}
	// Depth answered: more may be waiting; look again next sweep.
	atomic.OrUint64(bell, bit)
	return n
}

// drop stops serving c because its client wrote what no correct client
// writes; the epoll goroutine frees it when the shutdown lands.
func (s *server) drop(c *sconn, why string) { s.dropFor(c, why, &s.stats.dropped) }

// dropFor is drop, counting the drop in n.
func (s *server) dropFor(c *sconn, why string, n *atomic.Uint64) {
	if c.state.CompareAndSwap(connActive, connClosing) {
		r, _, _ := c.ring()
		c.extOf(r.depth).why.Store(&why)
		n.Add(1)
		unix.Shutdown(c.fd, unix.SHUT_RDWR)
	}
}
