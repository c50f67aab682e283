package link

import (
	"slices"
	"time"

	"github.com/spinwire/spinwire/internal/msg"
	"github.com/spinwire/spinwire/layout"
	"golang.org/x/sys/unix"
)

// expireHandshakes closes connections whose hello has not come in time.
func (s *Server[Req, Resp]) expireHandshakes() {
	now := time.Now().UnixNano()
	for i := 0; i < len(s.pending); {
		c := s.pending[i]
		if c.state.Load() != connHandshake || s.byFd[c.fd] != c {
			s.pending = slices.Delete(s.pending, i, i+1) // set up, or gone
			continue
		}
		if now-c.started > int64(s.opts.SetupTimeout) {
			s.refuse(c, statusBadHello, "no hello within the set-up timeout")
			continue
		}
		i++
	}
}

// refuse tells c why it is refused, in a welcome with status, logs it and
// forgets c.
func (s *Server[Req, Resp]) refuse(c *sconn, status uint32, why string) {
	s.refuseWith(c, &welcome{status: status, message: why}, why)
}

// refuseWith sends c the welcome w, which refuses it, logs why and forgets c.
func (s *Server[Req, Resp]) refuseWith(c *sconn, w *welcome, why string) {
	s.stats.refused.Add(1)
	sendMsg(c.fd, w.encode())
	s.forget(c)
	s.opts.Logf("link: %s: refused a client (pid %d, uid %d): %s", s.name, c.pid, c.uid, why)
}

// forget stops watching c, closes its socket and drops its record and its
// reference to its process's liveness page. Epoll goroutine only.
func (s *Server[Req, Resp]) forget(c *sconn) {
	s.ep.del(c.fd)
	unix.Close(c.fd)
	s.byFd[c.fd] = nil
	if c.peer != nil {
		s.unrefPeer(c.peer)
		c.peer = nil
	}
}

// handshake reads c's hello, checks the client against the policy and the
// layouts, and attaches it to a slot in its trust domain's arena — or
// refuses it with a welcome that says why. Epoll goroutine only.
func (s *Server[Req, Resp]) handshake(c *sconn, buf []byte) {
	n, ok := s.readHello(c, buf)
	if !ok {
		return
	}
	h, err := decodeHello(buf[:n])
	if err != nil {
		s.refuse(c, statusBadHello, msg.Sprintf("bad hello: %v", err))
		return
	}
	if h.version != wireVersion {
		s.refuse(c, statusBadHello, msg.Sprintf("hello of wire version %d; this server speaks %d", h.version, wireVersion))
		return
	}
	if e, which := s.compare(&h); e != nil {
		s.refuseMismatch(c, e, which)
		return
	}
	if uintptr(h.reqSize) != s.reqS.Size || uintptr(h.respSize) != s.respS.Size {
		// The fingerprints matched, and they cover the sizes.
		s.refuse(c, statusBadHello, msg.Sprintf("hello: sizes %d and %d disagree with the fingerprints", h.reqSize, h.respSize))
		return
	}
	d, idx, ok := s.place(c)
	if !ok {
		return
	}
	s.attach(c, d, idx)
}

// readHello receives c's hello into buf, maps the liveness page that came
// with it, and checks the client's credentials against the policy. It
// reports false when c has been refused or forgotten, or its hello has not
// arrived yet.
func (s *Server[Req, Resp]) readHello(c *sconn, buf []byte) (int, bool) {
	var fds [1]int // the client process's liveness page, if it has one
	n, err := recvMsg(c.fd, buf, fds[:])
	if err == unix.EAGAIN {
		return 0, false
	}
	if err != nil || n == 0 {
		closeFds(fds[:])
		s.stats.refused.Add(1)
		s.forget(c)
		return 0, false
	}
	if fds[0] >= 0 {
		if c.peer, err = s.mapPeer(fds[0]); err != nil {
			s.refuse(c, statusBadHello, err.Error())
			return 0, false
		}
	}
	cred, err := peerCred(c.fd)
	if err != nil {
		s.refuse(c, statusDenied, "no peer credentials")
		return 0, false
	}
	c.pid, c.uid, c.gid = cred.Pid, cred.Uid, cred.Gid
	if !s.opts.Policy.allows(s.uid, cred.Uid, cred.Gid) {
		s.refuse(c, statusDenied, msg.Sprintf("uid %d gid %d not allowed", cred.Uid, cred.Gid))
		return 0, false
	}
	return n, true
}

// place finds c a slot in its uid's arena, or refuses it: MaxConns are
// attached, or the arena cannot be made.
func (s *Server[Req, Resp]) place(c *sconn) (*domain, int, bool) {
	if s.nconns >= s.opts.MaxConns {
		s.refuse(c, statusFull, msg.Sprintf("%d of %d connections attached", s.nconns, s.opts.MaxConns))
		return nil, 0, false
	}
	d, err := s.domain(c.uid)
	if err != nil {
		s.refuse(c, statusFull, msg.Sprintf("no arena: %v", err))
		return nil, 0, false
	}
	idx, ok := d.take()
	if !ok {
		s.refuse(c, statusFull, "no free arena slot")
		return nil, 0, false
	}
	return d, idx, true
}

// attach gives c slot idx of d: it resets the slot's ring, hands c to the
// pollers, and sends the welcome with the arena's fd (and the server's
// liveness page).
func (s *Server[Req, Resp]) attach(c *sconn, d *domain, idx int) {
	c.d, c.index = d, int32(idx)
	c.reset()
	gen := s.nextGen
	s.nextGen++
	g := d.a.g
	w := welcome{status: statusOK, index: uint32(idx), depth: uint32(g.depth),
		stride: uint32(g.stride), slotOff: uint64(g.slotOff(idx, 0)), step: uint64(g.step),
		bellOff: uint64(g.bellOff), arenaLen: uint64(g.length), epoch: s.epoch, generation: gen}
	c.state.Store(connActive)
	// SYNC: release of the connection to the pollers; pairs with the Load in sweep.
	d.conns[c.index].Store(c)
	s.nconns++
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
func (s *Server[Req, Resp]) compare(h *hello) (*layout.MismatchError, uint32) {
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
	return nil, 0
}

// refuseMismatch refuses c for the layout difference e (the server's view,
// which it logs) in the type which, sending the server's schema text of
// that type so that the client can say what differs from its side.
func (s *Server[Req, Resp]) refuseMismatch(c *sconn, e *layout.MismatchError, which uint32) {
	ours := s.reqS
	if which == mismatchResp {
		ours = s.respS
	}
	w := welcome{status: statusMismatch, mismatch: which, schemaFP: ours.Fingerprint}
	if text := ours.Encode(); len(text) <= maxMessage {
		w.message = string(text)
	}
	s.refuseWith(c, &w, e.Error())
}
