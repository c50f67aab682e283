package link

import (
	"context"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

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

	mu        sync.Mutex // guards the fields below
	serving   bool
	closed    bool
	cancel    context.CancelFunc
	loopDone  chan struct{}
	closeDone chan struct{} // closed when Close has cleaned up

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
		loopDone: make(chan struct{}), closeDone: make(chan struct{}),
		live:  newOwnerPage("spinwire-server-liveness"),
		peers: map[inodeKey]*peerPage{},
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

// Stats returns the server's counters. Cost: a load per connection slot of
// every trust domain's arena (MaxConns each); for monitoring, not for a
// hot path.
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
