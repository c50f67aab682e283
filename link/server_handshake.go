package link

import (
	"time"

	"github.com/spinwire/spinwire/internal/msg"
	"github.com/spinwire/spinwire/layout"
	"golang.org/x/sys/unix"
)

// expireHandshakes closes connections whose hello has not come in time.
func (s *server) expireHandshakes() {
	s.prunePending()
	now := time.Now().UnixNano()
	for _, c := range s.pending {
		if now-c.started > int64(s.opts.SetupTimeout) {
			s.refuse(c, statusBadHello, reasonMalformed, "no hello within the set-up timeout")
		}
	}
}

// refuse tells c why it is refused, in a welcome with status, logs it and
// forgets c.
func (s *server) refuse(c *sconn, status uint32, reason int, why string) {
	s.refuseWith(c, &welcome{status: status, message: why}, reason, why)
}

// refuseWith sends c the welcome w, which refuses it, logs why and forgets c.
func (s *server) refuseWith(c *sconn, w *welcome, reason int, why string) {
	s.stats.refused[reason].Add(1)
	s.wbuf = w.appendTo(s.wbuf)
	sendMsg(c.fd, s.wbuf)
	s.forget(c)
	s.logRefused(c.pid, c.uid, why)
}

// forget stops watching c and closes its socket. Epoll goroutine only.
func (s *server) forget(c *sconn) {
	s.ep.del(c.fd)
	unix.Close(c.fd)
	s.byFd[c.fd] = nil
}

// handshake reads c's hello, checks it against the layouts, and attaches c
// to a slot in its process's arena — or refuses it with a welcome that
// says why. c's credentials passed the policy at the accept; nothing c
// sends is mapped or kept before every check of it has passed. Epoll
// goroutine only.
func (s *server) handshake(c *sconn) {
	buf := s.hbuf
	var fds [1]int // the client process's liveness page, if it has one
	n, err := recvMsg(c.fd, buf, fds[:])
	if err == unix.EAGAIN {
		return
	}
	if err != nil || n == 0 {
		closeFds(fds[:])
		if err != nil { // else the client left without a word
			s.stats.refused[reasonMalformed].Add(1)
		}
		s.forget(c)
		return
	}
	page := fds[0]
	key, ok := s.checkHello(c, buf[:n], page)
	if !ok {
		closeFds(fds[:])
		return
	}
	d, idx, ok := s.place(c, page, key)
	closeFds(fds[:]) // mapped by now, if it is to be
	if ok {
		s.attach(c, d, idx)
	}
}

// checkHello checks c's hello b and the liveness page fd that came with it
// (-1: none), without mapping anything; it returns the page's inode. On a
// failure it refuses c and reports false.
func (s *server) checkHello(c *sconn, b []byte, page int) (inodeKey, bool) {
	h, err := decodeHello(b)
	if err != nil {
		s.refuse(c, statusBadHello, reasonMalformed, msg.Sprintf("bad hello: %v", err))
		return inodeKey{}, false
	}
	if h.version != wireVersion {
		s.refuse(c, statusBadHello, reasonVersion, msg.Sprintf("hello of wire version %d; this server speaks %d", h.version, wireVersion))
		return inodeKey{}, false
	}
	if e, which := s.compare(&h); e != nil {
		s.refuseMismatch(c, e, which)
		return inodeKey{}, false
	}
	if uintptr(h.reqSize) != s.reqS.Size || uintptr(h.respSize) != s.respS.Size ||
		(h.flags&helloPush != 0 && uintptr(h.pushSize) != s.pushS.Size) {
		// The fingerprints matched, and they cover the sizes.
		s.refuse(c, statusBadHello, reasonMalformed, msg.Sprintf("hello: sizes %d, %d and %d disagree with the fingerprints", h.reqSize, h.respSize, h.pushSize))
		return inodeKey{}, false
	}
	c.push = h.flags&helloPush != 0
	if page < 0 {
		return inodeKey{}, true
	}
	key, err := checkPage(page)
	if err != nil {
		s.refuse(c, statusBadHello, reasonMalformed, err.Error())
		return inodeKey{}, false
	}
	return key, true
}

// place finds c's process's domain (making it if this is the process's
// first connection), maps the process's liveness page if the domain has
// none yet (page, whose inode is key; -1: none) and takes a slot there —
// or refuses c: MaxConns are attached, or MaxConnsPerUID of c's uid (not
// the server's), the uid has too many processes attached, or the arena or
// the page cannot be had. The caller closes page.
func (s *server) place(c *sconn, page int, key inodeKey) (*domain, int, bool) {
	if s.nconns >= s.opts.MaxConns {
		s.refuse(c, statusFull, reasonFull, msg.Sprintf("%d of %d connections attached", s.nconns, s.opts.MaxConns))
		return nil, 0, false
	}
	if n := s.uconns.of(c.uid); c.uid != s.uid && n >= s.opts.MaxConnsPerUID {
		s.refuse(c, statusFull, reasonFull, msg.Sprintf("%d connections of uid %d attached (MaxConnsPerUID)", n, c.uid))
		return nil, 0, false
	}
	d, why := s.domainFor(c, key, page >= 0)
	if d == nil {
		s.refuse(c, statusFull, reasonFull, why)
		return nil, 0, false
	}
	if page >= 0 && d.peer == nil {
		p, err := s.mapPeer(page, key)
		if err != nil {
			s.abandon(d)
			s.refuse(c, statusFull, reasonFull, msg.Sprintf("liveness page: %v", err))
			return nil, 0, false
		}
		d.peer = p
		if p.owner == nil {
			p.owner = d
		}
	}
	idx, ok := d.take()
	if !ok {
		s.abandon(d)
		s.refuse(c, statusFull, reasonFull, "no free arena slot")
		return nil, 0, false
	}
	return d, idx, true
}

// attach gives c slot idx of d: it rewrites the arena's header (which the
// client process may have scribbled over), resets the slot's ring, hands c
// to the pollers, and sends the welcome with the arena's fd (and the
// server's liveness page).
func (s *server) attach(c *sconn, d *domain, idx int) {
	c.d, c.index = d, int32(idx)
	copy(d.a.seg.Bytes(), s.hdr[:])
	c.reset()
	gen := s.nextGen
	s.nextGen++
	g := d.a.g
	w := welcome{status: statusOK, index: uint32(idx), depth: uint32(g.depth),
		stride: uint32(g.stride), slotOff: uint64(g.slotOff(idx, 0)), step: uint64(g.step),
		bellOff: uint64(g.bellOff), arenaLen: uint64(g.length), epoch: s.epoch, generation: gen,
		pushDepth: uint32(g.pushDepth), pushStride: uint32(g.pushStride)}
	if c.push {
		w.pushOff = uint64(g.pushRingOff(idx))
	}
	c.state.Store(connActive)
	s.list(d)
	// SYNC: release of the connection to the pollers; pairs with the Load in sweep.
	d.chunks[idx/64].conns.Load()[idx%64].Store(c)
	d.n++
	s.nconns++
	s.uconns.add(c.uid, 1)
	s.wbuf = w.appendTo(s.wbuf)
	out := [maxFds]int{d.a.seg.Fd(), -1}
	if s.live != nil {
		out[1] = s.live.fd
	}
	if err := sendMsg(c.fd, s.wbuf, out[:]...); err != nil {
		s.free(c)
		return
	}
	s.stats.accepted.Add(1)
	if s.opts.OnConnect != nil {
		s.opts.OnConnect(c.info())
	}
}

// compare checks the client's Req and Resp (from its hello) against ours.
// On a mismatch it returns the difference, with the server's type as Ours,
// and which type differs.
func (s *server) compare(h *hello) (*layout.MismatchError, uint32) {
	if h.reqFP != s.reqS.Fingerprint {
		if e := mismatchWith(whatRequest, s.reqS, h.reqFP, h.reqSchema); e != nil {
			return e, mismatchReq
		}
	}
	if h.respFP != s.respS.Fingerprint {
		if e := mismatchWith(whatResponse, s.respS, h.respFP, h.respSchem); e != nil {
			return e, mismatchResp
		}
	}
	if h.flags&helloPush != 0 && s.pushS == nil {
		return &layout.MismatchError{What: whatPush + "type", Ours: "absent (Listen, not ListenPush)", Theirs: "fingerprint " + msg.Sprintf("%#x", h.pushFP)}, mismatchPush
	}
	if h.flags&helloPush != 0 && h.pushFP != s.pushS.Fingerprint {
		if e := mismatchWith(whatPush, s.pushS, h.pushFP, h.pushSchema); e != nil {
			return e, mismatchPush
		}
	}
	return nil, 0
}

// refuseMismatch refuses c for the layout difference e (the server's view,
// which it logs) in the type which, sending the server's schema text of
// that type so that the client can say what differs from its side.
func (s *server) refuseMismatch(c *sconn, e *layout.MismatchError, which uint32) {
	ours := s.reqS
	switch which {
	case mismatchResp:
		ours = s.respS
	case mismatchPush:
		ours = s.pushS
	}
	w := welcome{status: statusMismatch, mismatch: which}
	if ours != nil { // nil: we have no push type, and say so with a zero fingerprint
		w.schemaFP = ours.Fingerprint
		if text := ours.Encode(); len(text) <= maxMessage {
			w.message = string(text)
		}
	}
	s.refuseWith(c, &w, reasonMismatch, e.Error())
}
