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

func (s *Server[Req, Resp]) refuse(c *sconn, status uint32, why string) {
	s.stats.refused.Add(1)
	sendMsg(c.fd, (&welcome{status: status, message: why}).encode())
	s.forget(c)
	s.opts.Logf("link: %s: refused a client (pid %d, uid %d): %s", s.name, c.pid, c.uid, why)
}

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
	if err != nil || h.version != wireVersion {
		s.refuse(c, statusBadHello, msg.Sprintf("bad hello: %v", err))
		return
	}
	if why := s.compare(&h); why != "" {
		s.refuse(c, statusMismatch, why)
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

// compare returns "" when the client's types match ours, or a message that
// names the first field that differs.
func (s *Server[Req, Resp]) compare(h *hello) string {
	check := func(what string, ours *layout.Schema, fp uint64, size uint32, text []byte) string {
		if fp == ours.Fingerprint && uintptr(size) == ours.Size {
			return ""
		}
		if peer, err := layout.DecodeSchema(text); err == nil {
			// Diff says "here" for its receiver: the client's view.
			if err := peer.Diff(ours); err != nil {
				return msg.Sprintf("%s: %v", what, err)
			}
		}
		return msg.Sprintf("%s: client fingerprint %#x (%d bytes), server %#x (%d bytes)", what, fp, size, ours.Fingerprint, ours.Size)
	}
	if m := check("request", s.reqS, h.reqFP, h.reqSize, h.reqSchema); m != "" {
		return m
	}
	return check("response", s.respS, h.respFP, h.respSize, h.respSchem)
}
