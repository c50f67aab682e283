package link

import (
	"context"
	"errors"
	"math/bits"
	"os"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/spinwire/spinwire/agent"
	"github.com/spinwire/spinwire/internal/msg"
	"github.com/spinwire/spinwire/layout"
	"golang.org/x/sys/unix"
)

// Server accepts connections and answers their requests with a handler.
type Server[Req, Resp any] struct {
	opts     Options
	name     string
	sockPath string
	lockPath string
	lockFd   int
	lfd      int
	ep       *epoll
	reqS     *layout.Schema
	respS    *layout.Schema
	fp       uint64 // fingerprint of the (Req, Resp) pair, in each arena's header
	g        arenaGeometry
	epoch    uint64
	uid      uint32
	live     *ownerPage // nil where the kernel lacks the seals
	wakeFd   int        // eventfd: poller 0 → epoll goroutine, a client page died

	// arenas is the pollers' view: a copy-on-write list.
	arenas atomic.Pointer[[]*domain]

	// Owned by the epoll goroutine.
	domains map[uint32]*domain
	byFd    []*sconn // by socket fd: the epoll token
	pending []*sconn // connections waiting for their hello
	nconns  int
	nextGen uint64
	wbuf    []byte // the welcome being sent
	peers   map[inodeKey]*peerPage
	retired []*peerPage // out of peerList, to unmap after a grace period

	peerList atomic.Pointer[[]*peerPage] // poller 0's view of peers
	peerTick uint64                      // poller 0 only

	pollers []*pollerState
	handler func(*Req, *Resp)
	scratch []scratch[Req, Resp] // per poller

	mu       sync.Mutex // guards the fields below
	serving  bool
	closed   bool
	cancel   context.CancelFunc
	loopDone chan struct{}

	stats serverStats
}

type serverStats struct {
	accepted, refused, dropped, closed atomic.Uint64
}

// ServerStats are a server's counters.
type ServerStats struct {
	Conns    int    // attached now
	Accepted uint64 // connections that completed set-up
	Refused  uint64 // set-ups refused (policy, full, mismatch, malformed)
	Dropped  uint64 // connections dropped for corrupt shared state
	Closed   uint64 // connections whose client went away
	Requests uint64 // requests answered
}

// domain is one trust domain (uid): its arena and its connections.
type domain struct {
	a     *arena
	conns []atomic.Pointer[sconn] // by slot index
	free  []int32                 // released slot indexes (epoll goroutine); room for all
	fresh int                     // slots from here on were never used
}

// take returns a free slot index: a released one first, else the lowest
// never used.
func (d *domain) take() (int, bool) {
	if n := len(d.free); n > 0 {
		i := d.free[n-1]
		d.free = d.free[:n-1]
		return int(i), true
	}
	if d.fresh < len(d.conns) {
		d.fresh++
		return d.fresh - 1, true
	}
	return 0, false
}

// Connection states.
const (
	connHandshake = iota
	connActive
	connClosing
)

// sconn is the server's private state for one connection: 72 bytes (an
// 80-byte size class), one allocation at the accept. Its ring and doorbell
// bit are not stored: they follow from index and the domain's geometry
// (connRing, bellWord).
type sconn struct {
	// The poller's (serveConn).
	pos   uint64 // next call position: private, never read from the arena
	state atomic.Int32
	index int32   // slot in d's arena
	d     *domain // set at the hello
	// The epoll goroutine's.
	fd       int
	pid      int32
	uid, gid uint32
	queued   bool                   // in this round's list to free
	lone     bool                   // the poller's: the last request was quiet, nothing followed (serveConn)
	started  int64                  // unix ns of the accept, for the set-up timeout
	why      atomic.Pointer[string] // why a poller dropped it
	peer     *peerPage              // its process's liveness page, or nil
}

// reset puts c's ring back to its initial state and clears its
// doorbell bit: at attach, never while a poller looks at c. It writes only
// the sequence words on pages of the memfd that exist: the others read as
// zero, the initial state, and writing them would allocate pages for a
// connection that may stay idle. (A same-uid peer may write there at any
// time, as after the attach; the pollers check every word they read.)
// Cost: one lseek per page of the slots, Depth stores at most.
func (c *sconn) reset() {
	a := c.d.a
	r, _, _ := c.ring()
	body := uintptr(unsafe.Pointer(unsafe.SliceData(a.body)))
	page := int64(unix.Getpagesize())
	lastPage, exists := int64(-1), false
	for i := range r.depth {
		off := layout.HeaderLength + int64(uintptr(unsafe.Pointer(r.seqWord(i)))-body)
		if p := off / page; p != lastPage {
			lastPage, exists = p, !a.hole(p*page, page)
		}
		if exists {
			r.storeSeq(i, 2*i)
		}
	}
	c.clearBell()
}

// clearBell clears c's doorbell bit.
func (c *sconn) clearBell() {
	_, bell, bit := c.ring()
	atomic.AndUint64(bell, ^bit)
}

// ring returns c's call ring and its doorbell word and bit. Cost: a few
// multiplies, no loads beyond c.d's arena.
func (c *sconn) ring() (r callRing, bell *uint64, bit uint64) {
	a, i := c.d.a, int(c.index)
	return connRing(a.body, a.g, i), bellWord(a.body, a.g, i), 1 << (i % 64)
}

type pollerState struct {
	sweeps   atomic.Uint64
	running  atomic.Bool
	requests atomic.Uint64
}

// Listen binds name's socket and starts accepting connections; Serve starts
// answering them. Only one live server may hold a name: a second Listen
// gets ErrInUse; a dead server's leftovers are reclaimed. Req and Resp must
// be fixed-layout (layout.Of).
func Listen[Req, Resp any](name string, opts Options) (*Server[Req, Resp], error) {
	if err := opts.fill(); err != nil {
		return nil, err
	}
	reqS, respS, dir, err := schemasAndDir[Req, Resp](opts.Dir)
	if err != nil {
		return nil, err
	}
	sockPath, lockPath, err := paths(dir, name)
	if err != nil {
		return nil, err
	}
	s := &Server[Req, Resp]{
		opts: opts, name: name, sockPath: sockPath, lockPath: lockPath, lfd: -1,
		reqS: reqS, respS: respS, fp: reqS.Fingerprint*31 + respS.Fingerprint,
		g:     geometry(opts.MaxConns, opts.Depth, reqS.Size, respS.Size),
		epoch: uint64(time.Now().UnixNano()), uid: uint32(os.Getuid()),
		domains:  map[uint32]*domain{},
		loopDone: make(chan struct{}),
		live:     newOwnerPage("spinwire-server-liveness"),
		peers:    map[inodeKey]*peerPage{},
		// Sized up front: growing them one append at a time leaves a dead
		// array in every size class (the GC may be off). byFd's pages are
		// touched only as far as the fds in use reach.
		byFd:    make([]*sconn, min(opts.MaxConns+64, 1<<16)),
		pending: make([]*sconn, 0, maxPending),
		wakeFd:  -1,
	}
	empty := []*domain{}
	s.arenas.Store(&empty)
	if s.lockFd, err = lockName(lockPath); err != nil {
		return nil, err
	}
	// We hold the lock: any socket file is a dead server's.
	os.Remove(sockPath)
	if err := s.bind(); err != nil {
		s.unbind()
		return nil, err
	}
	// The server's own trust domain, when the policy admits it, gets its
	// arena now rather than at its first connection: on the caller's
	// goroutine, with the rest of the set-up, not on the housekeeping
	// goroutine, where its dozen allocations would each take a span of
	// their own on that goroutine's P. Its cost when no one connects: one
	// page of the memfd (the header) and a table the size of MaxConns.
	if opts.Policy.allows(s.uid, s.uid, uint32(os.Getgid())) {
		if _, err := s.domain(s.uid); err != nil {
			s.unbind()
			return nil, err
		}
	}
	go s.loop()
	return s, nil
}

func (s *Server[Req, Resp]) bind() error {
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, 0)
	if err != nil {
		return msg.Errorf("link: socket: %w", err)
	}
	s.lfd = fd
	if err := unix.Bind(fd, &unix.SockaddrUnix{Name: s.sockPath}); err != nil {
		return msg.Errorf("link: bind %s: %w", s.sockPath, err)
	}
	if err := os.Chmod(s.sockPath, 0o600); err != nil {
		return err
	}
	if err := unix.Listen(fd, 4096); err != nil {
		return msg.Errorf("link: listen: %w", err)
	}
	if s.ep, err = newEpoll(); err != nil {
		return err
	}
	if s.wakeFd, err = unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK); err != nil {
		return err
	}
	if err := s.ep.add(s.wakeFd, wakeToken); err != nil {
		return err
	}
	return s.ep.add(fd, listenToken)
}

// listenToken is the epoll token of the listening socket; a connection's
// token is its fd.
const listenToken = ^uint64(0)

// wakeToken is the epoll token of the eventfd poller 0 writes when a client
// process's liveness page says it died.
const wakeToken = listenToken - 1

// maxPending bounds connections that have not sent their hello yet.
const maxPending = 1024

// unbind undoes Listen's resources (not the connections).
func (s *Server[Req, Resp]) unbind() {
	if s.lfd >= 0 {
		unix.Close(s.lfd)
		os.Remove(s.sockPath)
	}
	if s.wakeFd >= 0 {
		unix.Close(s.wakeFd)
		s.wakeFd = -1
	}
	if s.lockFd >= 0 {
		os.Remove(s.lockPath)
		unix.Close(s.lockFd)
		s.lockFd = -1
	}
}

// Serve runs the pollers — Options.Pollers agent.Agents, pinned to
// Options.CPUs — calling handler for every request with a private copy of
// the request and the call's slot in shared memory, where the response
// goes (it still holds the request's bytes: handler must set every field
// of resp). handler must not keep either pointer, and should still treat
// req's values as hostile input: the copy is stable, its contents are the
// client's. Serve returns when Close is called (nil) or a poller fails (a
// panic in handler, say).
func (s *Server[Req, Resp]) Serve(handler func(req *Req, resp *Resp)) error {
	if handler == nil {
		return msg.Errorf("%w: nil handler", ErrBadOption)
	}
	s.mu.Lock()
	if s.closed || s.serving {
		s.mu.Unlock()
		return msg.Errorf("%w: serve on a closed or serving server", ErrClosed)
	}
	s.serving = true
	s.handler = handler
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	ctx.Done() // its channel made here, not on a poller (agent.Agent.Run)
	s.pollers = make([]*pollerState, s.opts.Pollers)
	s.scratch = make([]scratch[Req, Resp], s.opts.Pollers)
	for i := range s.pollers {
		s.pollers[i] = &pollerState{}
		s.pollers[i].running.Store(true)
	}
	s.mu.Unlock()
	errc := make(chan error, len(s.pollers))
	for i, p := range s.pollers {
		cpu := -1
		if i < len(s.opts.CPUs) {
			cpu = s.opts.CPUs[i]
		}
		go func() {
			defer p.running.Store(false)
			if i == 0 {
				// Poller 0's thread owns the liveness page. The Agent
				// locks the thread too and never unlocks it, so the
				// disown below runs on the same thread.
				runtime.LockOSThread()
				s.live.own()
				defer s.live.disown()
			}
			a := &agent.Agent{Name: msg.Sprintf("link %s poller %d", s.name, i), Mode: s.opts.Mode, Logf: s.opts.Logf}
			duty := func() int { return s.sweep(i, p) }
			if i == 0 {
				duty = func() int { n := s.sweep(0, p); s.checkPeers(); return n }
			}
			errc <- a.Run(ctx, cpu, s.opts.Idler(), duty)
		}()
	}
	var first error
	for range s.pollers {
		err := <-errc
		if errors.Is(err, agent.ErrStopped) && ctx.Err() != nil {
			err = nil // Close came before this poller started
		}
		if err != nil && first == nil {
			first = err
			cancel()
		}
	}
	return first
}

// sweep is one pass of poller i over its shard of every arena's doorbell
// words. It returns the requests answered.
func (s *Server[Req, Resp]) sweep(i int, p *pollerState) int {
	work := 0
	n := len(s.pollers)
	for _, d := range *s.arenas.Load() {
		words := (d.a.g.maxConns + 63) / 64
		base := unsafe.Pointer(unsafe.SliceData(d.a.body[d.a.g.bellOff:]))
		for w := i; w < words; w += n {
			word := (*uint64)(unsafe.Add(base, 8*w))
			// SYNC: acquire of clients' doorbell bits; pairs with the
			// client's OR after it publishes (Conn.Send).
			if atomic.LoadUint64(word) == 0 {
				continue
			}
			for b := atomic.SwapUint64(word, 0); b != 0; b &= b - 1 {
				idx := w*64 + bits.TrailingZeros64(b)
				if idx >= len(d.conns) {
					continue // a client set a bit past the last slot
				}
				// SYNC: acquire of the connection; pairs with its Store in accept.
				if c := d.conns[idx].Load(); c != nil && c.state.Load() == connActive {
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

// scratch is a poller's private copy of the request being served, and the
// response of one-way requests (discarded), padded so that two pollers'
// copies never share a cache line.
type scratch[Req, Resp any] struct {
	req  Req
	resp Resp
	_    [64]byte
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
			// (arena.go): look there. A request there marked quiet was
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
		sc.req = *(*Req)(r.slot(p))
		if id&oneWay != 0 {
			s.handler(&sc.req, &sc.resp)
			r.done(p)
		} else {
			s.handler(&sc.req, (*Resp)(r.slot(p)))
			r.answer(p)
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
func (s *Server[Req, Resp]) drop(c *sconn, why string) {
	if c.state.CompareAndSwap(connActive, connClosing) {
		c.why.Store(&why)
		s.stats.dropped.Add(1)
		unix.Shutdown(c.fd, unix.SHUT_RDWR)
	}
}

// loop is the housekeeping goroutine: accepts, set-ups, and deaths, for
// every connection, through one epoll fd.
func (s *Server[Req, Resp]) loop() {
	defer close(s.loopDone)
	evs := make([]unix.EpollEvent, 128)
	buf := make([]byte, maxDatagram)
	dead := make([]*sconn, 0, 128)
	for {
		n, err := s.ep.wait(evs, 100)
		if err != nil {
			s.opts.Logf("link: epoll: %v", err)
			return
		}
		s.mu.Lock()
		closed := s.closed
		s.mu.Unlock()
		if closed {
			return
		}
		for i := range n {
			tok := token(&evs[i])
			if tok == listenToken {
				s.accept()
				continue
			}
			if tok == wakeToken {
				dead = s.reapPeers(dead)
				continue
			}
			if tok >= uint64(len(s.byFd)) || s.byFd[tok] == nil {
				continue
			}
			c := s.byFd[tok]
			if c.state.Load() == connHandshake && evs[i].Events&unix.EPOLLIN != 0 {
				s.handshake(c, buf)
				continue
			}
			if !c.queued {
				c.queued = true
				dead = append(dead, c)
			}
		}
		// A dead process closes all its sockets at once: free them together,
		// after one grace period for the whole batch.
		s.free(dead...)
		clear(dead)
		dead = dead[:0]
		s.expireHandshakes()
	}
}

func (s *Server[Req, Resp]) accept() {
	for {
		fd, err := accept4(s.lfd)
		if err != nil {
			if err != unix.EAGAIN && err != unix.EINTR {
				s.opts.Logf("link: accept: %v", err)
			}
			return
		}
		if len(s.pending) >= maxPending {
			unix.Close(fd) // a flood of silent connections: refuse at once
			s.stats.refused.Add(1)
			continue
		}
		c := &sconn{fd: fd, started: time.Now().UnixNano()}
		if err := s.ep.add(fd, uint64(fd)); err != nil {
			unix.Close(fd)
			continue
		}
		if fd >= len(s.byFd) {
			// Grow by doubling, in one step: no chain of dead arrays in
			// every size class (the GC may be off).
			s.byFd = slices.Grow(s.byFd, max(fd+1, 2*len(s.byFd))-len(s.byFd))
			s.byFd = s.byFd[:cap(s.byFd)]
		}
		s.byFd[fd] = c
		s.pending = append(s.pending, c)
	}
}

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

func (s *Server[Req, Resp]) handshake(c *sconn, buf []byte) {
	var fds [1]int // the client process's liveness page, if it has one
	n, err := recvMsg(c.fd, buf, fds[:])
	if err == unix.EAGAIN {
		return
	}
	if err != nil || n == 0 {
		closeFds(fds[:])
		s.stats.refused.Add(1)
		s.forget(c)
		return
	}
	if fds[0] >= 0 {
		if c.peer, err = s.mapPeer(fds[0]); err != nil {
			s.refuse(c, statusBadHello, err.Error())
			return
		}
	}
	cred, err := peerCred(c.fd)
	if err != nil {
		s.refuse(c, statusDenied, "no peer credentials")
		return
	}
	c.pid, c.uid, c.gid = cred.Pid, cred.Uid, cred.Gid
	if !s.opts.Policy.allows(s.uid, cred.Uid, cred.Gid) {
		s.refuse(c, statusDenied, msg.Sprintf("uid %d gid %d not allowed", cred.Uid, cred.Gid))
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
	if s.nconns >= s.opts.MaxConns {
		s.refuse(c, statusFull, msg.Sprintf("%d of %d connections attached", s.nconns, s.opts.MaxConns))
		return
	}
	d, err := s.domain(cred.Uid)
	if err != nil {
		s.refuse(c, statusFull, msg.Sprintf("no arena: %v", err))
		return
	}
	idx, ok := d.take()
	if !ok {
		s.refuse(c, statusFull, "no free arena slot")
		return
	}
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

// domain returns uid's trust domain, creating its arena on first use.
func (s *Server[Req, Resp]) domain(uid uint32) (*domain, error) {
	if d := s.domains[uid]; d != nil {
		return d, nil
	}
	a, err := newArena(uid, s.g, s.fp)
	if err != nil {
		return nil, err
	}
	d := &domain{a: a, conns: make([]atomic.Pointer[sconn], s.g.maxConns), free: make([]int32, 0, s.g.maxConns)}
	s.domains[uid] = d
	list := append(append([]*domain{}, *s.arenas.Load()...), d)
	// SYNC: release of the new arena list; pairs with the Load in sweep.
	s.arenas.Store(&list)
	return d, nil
}

// free frees the slots of cs once no poller can be touching them, and
// closes their sockets: the clients see their ends close. One grace period
// covers the whole batch.
func (s *Server[Req, Resp]) free(cs ...*sconn) {
	if len(cs) == 0 {
		return
	}
	for _, c := range cs {
		if c.d == nil {
			continue
		}
		if c.state.Swap(connClosing) == connActive {
			s.stats.closed.Add(1)
		} else if why := c.why.Load(); why != nil {
			s.opts.Logf("link: %s: dropped connection %d (pid %d, uid %d): %s", s.name, c.index, c.pid, c.uid, *why)
		}
	}
	for _, c := range cs {
		if c.peer != nil { // out of poller 0's list before the grace period
			s.unrefPeer(c.peer)
			c.peer = nil
		}
	}
	retired := s.retired
	s.retired = nil
	safe := s.waitPollers()
	if safe {
		s.unmapRetired(retired)
	} else {
		s.retired = append(s.retired, retired...) // Close unmaps them
	}
	// Every slot first, the sockets' system calls after: a dead process's
	// slots are all free within microseconds of each other.
	defer func() {
		for _, c := range cs {
			s.forget(c)
		}
	}()
	for _, c := range cs {
		if c.d == nil {
			continue
		}
		s.nconns--
		c.d.conns[c.index].Store(nil)
		if !safe {
			s.opts.Logf("link: %s: slot %d leaked: a poller did not finish its sweep", s.name, c.index)
			continue
		}
		// The ring is reset when the slot is next taken (reset), where
		// it has pages: an idle connection's has none.
		c.clearBell()
		c.d.free = append(c.d.free, c.index)
		if s.opts.OnDisconnect != nil {
			s.opts.OnDisconnect(c.info())
		}
	}
}

// waitPollers waits until every running poller has begun a new sweep since
// the call, so none still holds a connection marked closing. Pollers sweep
// in microseconds: it spins (yielding its P) before it sleeps. It reports
// false after 5 s (a poller descheduled that long on an overloaded host;
// the slot is then leaked, not reused, and logged).
func (s *Server[Req, Resp]) waitPollers() bool {
	s.mu.Lock()
	ps := s.pollers
	s.mu.Unlock()
	start := time.Now()
	for _, p := range ps {
		snap := p.sweeps.Load()
		for i := 0; p.running.Load() && p.sweeps.Load() < snap+2; i++ {
			switch {
			case i < 1000:
				runtime.Gosched()
			case time.Since(start) > 5*time.Second:
				return false
			default:
				time.Sleep(10 * time.Microsecond)
			}
		}
	}
	return true
}

func (c *sconn) info() ConnInfo {
	i := ConnInfo{PID: c.pid, UID: c.uid, GID: c.gid, Index: int(c.index)}
	if why := c.why.Load(); why != nil {
		i.Reason = *why
	}
	return i
}

// Stats returns the server's counters.
func (s *Server[Req, Resp]) Stats() ServerStats {
	st := ServerStats{Accepted: s.stats.accepted.Load(), Refused: s.stats.refused.Load(),
		Dropped: s.stats.dropped.Load(), Closed: s.stats.closed.Load()}
	for _, d := range *s.arenas.Load() {
		for i := range d.conns {
			if c := d.conns[i].Load(); c != nil && c.state.Load() == connActive {
				st.Conns++
			}
		}
	}
	s.mu.Lock()
	for _, p := range s.pollers {
		st.Requests += p.requests.Load()
	}
	s.mu.Unlock()
	return st
}

// Close stops the pollers, closes every connection (clients see ErrPeerGone)
// and removes the socket. Serve returns.
func (s *Server[Req, Resp]) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	s.closed = true
	cancel := s.cancel
	s.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	<-s.loopDone
	for _, c := range s.byFd {
		if c != nil {
			unix.Close(c.fd)
		}
	}
	s.byFd = nil
	for _, p := range s.pollers {
		for p.running.Load() {
			time.Sleep(10 * time.Microsecond)
		}
	}
	for _, d := range s.domains {
		d.a.seg.Close()
	}
	s.ep.close()
	s.unbind()
	s.live.close()
	for _, p := range s.peers {
		s.retired = append(s.retired, p)
	}
	s.unmapRetired(s.retired) // the pollers have stopped
	s.peers, s.retired = nil, nil
	return nil
}
