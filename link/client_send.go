package link

import (
	"sync/atomic"

	"github.com/spinwire/spinwire/internal/msg"
)

// Send publishes a request without waiting and returns its correlation id.
// It fails with ErrFull when the next of the connection's Depth call slots
// still holds a call — one not yet answered, or whose response has not
// been taken (take responses with Poll first) — and with ErrPeerGone when
// the server is gone (every id sent and not answered is then lost). Cost:
// a copy of Req, one release store, one atomic OR on the previous
// request's id word when that one was sent quiet (callring.go, the jump)
// and, unless the connection's doorbell bit is already set, one atomic OR.
func (c *Conn[Req, Resp]) Send(req *Req) (uint64, error) {
	if !c.enter() {
		return 0, ErrClosed
	}
	defer c.leave()
	a, err := c.usable()
	if err != nil {
		return 0, err
	}
	id, err := sendOn(a, req)
	return id, c.failed(a, err)
}

func sendOn[Req any](a *attachment, req *Req) (uint64, error) {
	if a.awTail-a.awHead >= a.ring.depth {
		return 0, ErrFull // a call in every slot
	}
	id, err := publishOn(a, req, 0)
	if err == nil {
		a.awaiting[a.awTail&a.ring.mask] = awaited{pos: a.sendPos - 1, id: id}
		a.awTail++
	}
	return id, err
}

// publishOn puts req into the next call slot with the next id (| flags)
// and rings the doorbell.
func publishOn[Req any](a *attachment, req *Req, flags uint64) (uint64, error) {
	p := a.sendPos
	// Nothing in flight, and the last time there was nothing in flight
	// only one message went out before the next such moment: the client
	// calls one at a time, so start at the first slot (the jump, callring.go)
	// and mark the request quiet. A client that pipelines goes on in
	// order: it uses every slot anyway, and jumping would cost it a
	// followsFlag store on every burst.
	idle := a.awHead == a.awTail && !a.lastOne
	quiet := idle && a.burst <= 1
	if idle {
		a.burst = 0
	}
	if quiet {
		p = a.ring.jumpPos(p)
		flags |= quietFlag
	}
	switch a.ring.free(p) {
	case slotNo:
		return 0, ErrFull
	case slotCorrupt:
		a.broken = msg.Errorf("%w: call slot at position %d", ErrCorrupt, p)
		return 0, a.broken
	}
	*(*Req)(a.ring.slot(p)) = *req
	a.nextID++
	id := a.nextID
	*a.ring.id(p) = (id+a.tag)&^idFlags | flags
	a.ring.publish(p)
	if a.quietOpen && !quiet {
		// SYNC: tell the server that p follows the quiet request at p−1
		// (release; pairs with its load of that id). If it read the id
		// before this, it had swapped the doorbell word first, and the
		// check below finds this bit clear and rings it.
		atomic.OrUint64(a.ring.id(p-1), followsFlag)
	}
	a.sendPos, a.lastOne, a.quietOpen = p+1, flags&oneWay != 0, quiet
	a.burst++
	// SYNC: the OR (a full barrier) comes after publish; pairs with the
	// server's swap of the word in sweep. Skip it if the bit is set: the
	// server has not taken the word yet and will see this request too.
	if atomic.LoadUint64(a.bell)&a.bit == 0 {
		atomic.OrUint64(a.bell, a.bit)
	}
	return id, nil
}

// Publish sends req one way: the server's handler runs on it (with a
// response the server discards) and nothing comes back; the server frees
// its slot. It fails with ErrFull when the next call slot is not free,
// ErrPeerGone when the server is gone — a one-way message published before
// the server died may or may not have been handled. Cost: as Send.
func (c *Conn[Req, Resp]) Publish(req *Req) error {
	if !c.enter() {
		return ErrClosed
	}
	defer c.leave()
	a, err := c.usable()
	if err != nil {
		return err
	}
	_, err = publishOn(a, req, oneWay)
	return c.failed(a, err)
}

// Poll takes up to max ready responses (max ≤ 0: all), in order, calling fn
// with each one's id and the response in shared memory (valid during fn).
// It returns how many it took. A response whose slot does not carry its
// call's id and the attachment's tag is refused as corrupt (ErrCorrupt:
// the Conn redials). Cost per response: two atomic loads, fn, one release
// store; no allocation.
func (c *Conn[Req, Resp]) Poll(max int, fn func(id uint64, resp *Resp)) (int, error) {
	if !c.enter() {
		return 0, ErrClosed
	}
	defer c.leave()
	a, err := c.usable()
	if err != nil {
		return 0, err
	}
	n, err := pollOn(a, max, fn)
	return n, c.failed(a, err)
}

func pollOn[Resp any](a *attachment, max int, fn func(id uint64, resp *Resp)) (int, error) {
	n := 0
	for (max <= 0 || n < max) && a.awHead < a.awTail {
		w := a.awaiting[a.awHead&a.ring.mask]
		if w.taken {
			a.awHead++ // delivered already (takeOut)
			continue
		}
		switch st, err := a.responded(w); {
		case err != nil:
			return n, err
		case st == slotNo:
			if a.gone() {
				return n, ErrPeerGone
			}
			return n, nil
		}
		fn(w.id, (*Resp)(a.ring.slot(w.pos)))
		a.ring.done(w.pos)
		a.awHead++
		n++
	}
	if a.gone() {
		return n, ErrPeerGone
	}
	return n, nil
}

// responded reports whether w's response is in its slot (slotYes or
// slotNo), or an error (a.broken) when the slot holds what no correct
// server writes: a sequence out of protocol, or another call's id.
func (a *attachment) responded(w awaited) (int, error) {
	switch a.ring.response(w.pos) {
	case slotNo:
		return slotNo, nil
	case slotCorrupt:
		a.broken = msg.Errorf("%w: call slot at position %d", ErrCorrupt, w.pos)
		return slotCorrupt, a.broken
	}
	if atomic.LoadUint64(a.ring.id(w.pos))&^idFlags != (w.id+a.tag)&^idFlags {
		a.broken = msg.Errorf("%w: the response at position %d does not carry the id of call %d", ErrCorrupt, w.pos, w.id)
		return slotCorrupt, a.broken
	}
	return slotYes, nil
}

// takeOut takes the response of call id if it has come, ahead of older
// calls still awaiting theirs: a server may answer out of order when its
// handler defers a call (defer.go). The slot is freed at once; pollOn
// skips the entry when it reaches it. Cost: a look at each call in flight
// after the oldest — none for a Conn that calls one at a time.
func takeOut[Resp any](a *attachment, id uint64, resp *Resp) (bool, error) {
	for i := a.awHead + 1; i < a.awTail; i++ {
		w := &a.awaiting[i&a.ring.mask]
		if w.id != id || w.taken {
			continue
		}
		if st, err := a.responded(*w); st != slotYes {
			return false, err
		}
		*resp = *(*Resp)(a.ring.slot(w.pos))
		a.ring.done(w.pos)
		w.taken = true
		return true, nil
	}
	return false, nil
}

// abandon marks call id as ended without its response: its slot stays
// held until the response comes (and is dropped).
func (a *attachment) abandon(id uint64) {
	for i := a.awHead; i < a.awTail; i++ {
		if w := &a.awaiting[i&a.ring.mask]; w.id == id {
			w.abandoned = true
		}
	}
}

// stuck reports whether every call slot is held and the oldest call was
// abandoned: its response may never come (a server that deferred it and
// never answers), and only a new connection frees the slots.
func (a *attachment) stuck() bool {
	return a.awTail-a.awHead >= a.ring.depth && a.awaiting[a.awHead&a.ring.mask].abandoned
}

// gone reports whether the server is known dead: the death watch has said
// so, or the liveness page says so now (a spinning caller or the client
// poller then sees it before any thread has to wake; the rest of the
// process's attachments are told on another goroutine). Two loads.
func (a *attachment) gone() bool {
	if a.dead.Load() {
		return true
	}
	if a.live.dead() {
		a.live.report()
		return true
	}
	return false
}
