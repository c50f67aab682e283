package link

import (
	"context"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spinwire/spinwire/agent"
	"github.com/spinwire/spinwire/internal/fdpass"
	"github.com/spinwire/spinwire/internal/msg"
	"github.com/spinwire/spinwire/internal/proc"
	"github.com/spinwire/spinwire/layout"
	"golang.org/x/sys/unix"
)

// Server accepts connections and answers their requests with a handler.
type Server[Req, Resp any] struct {
	server
	handler  func(*Req, *Resp)
	handlerC func(*Caller, *Req, *Resp) // ServeCaller's, or nil
	scratch  []scratch[Req, Resp]       // per poller
}

// server is the part of a Server that does not depend on Req and Resp:
// everything but the pollers' handler and copies. Its methods are compiled
// once, not per instantiation (and named without the types).
type server struct {
	opts     Options
	name     string
	sockPath string
	lockPath string
	lockFd   int
	lfd      int
	ep       *epoll
	reqS     *layout.Schema
	respS    *layout.Schema
	pushS    *layout.Schema // ListenPush's push type, or nil
	fp       uint64         // fingerprint of the (Req, Resp) pair, in each arena's header
	g        arenaGeometry
	epoch    uint64
	uid      uint32
	live     *ownerPage // nil where the kernel lacks the seals
	wakeFd   int        // eventfd: poller 0 → epoll goroutine, a client page died

	// hdr is every arena's header (layout's, then the arena's), rewritten
	// at each attach: an array in the Server, not an allocation of its own.
	hdr [layout.HeaderLength + arenaHeaderLength]byte

	// arenas is the pollers' view: a copy-on-write list.
	arenas atomic.Pointer[[]*domain]

	// Owned by the epoll goroutine.
	domains map[procKey]*domain
	procs   uidCounts // domains per uid
	uconns  uidCounts // connections attached per uid
	spare   *domain   // Listen's domain, or one whose first set-up failed: the next new process's
	byFd    []*sconn  // by socket fd: the epoll token
	pending []*sconn  // connections waiting for their hello
	nconns  int
	nextGen uint64
	hbuf    []byte // the hello being read: maxDatagram
	wbuf    []byte // the welcome being sent
	mbuf    []byte // the refusal message being built
	statBuf [proc.StatLength]byte
	peers   map[inodeKey]*peerPage
	late    lateRelease // what a grace period left behind
	acc     acceptPause
	peerLog msg.Budget // lines about what clients did (epoll goroutine only)
	errLog  msg.Budget // lines about accept errors (epoll goroutine only)

	peerList atomic.Pointer[[]*peerPage] // poller 0's view of peers
	peerTick uint64                      // poller 0 only

	// The pollers' state, made in Listen with the rest, so that Serve and
	// the pollers' goroutines allocate next to nothing: the GC may be off,
	// and each small size class a goroutine allocates in takes a span on
	// its P — the pollers' P, a dedicated spinner's, is never used for
	// anything else.
	pollers []*pollerState
	agents  []agent.Agent      // one per poller, named
	ctx     context.Context    // ended by Close or a poller's failure
	cancel  context.CancelFunc // ends ctx
	errc    chan error         // the pollers' results, to Serve

	mu        sync.Mutex // guards the fields below
	serving   bool
	closed    bool
	loopDone  chan struct{}
	closeDone chan struct{} // closed when Close has cleaned up

	stats serverStats
}

// Why a set-up was refused: the index of its counter in serverStats.refused.
const (
	reasonPolicy = iota
	reasonBusy
	reasonMalformed
	reasonVersion
	reasonMismatch
	reasonFull
	reasons
)

type serverStats struct {
	accepted, dropped, closed  atomic.Uint64
	kicked                     atomic.Uint64 // closed by a handler (Caller.Close)
	refused                    [reasons]atomic.Uint64
	acceptErrors               atomic.Uint64
	deferred, replies          atomic.Uint64 // Caller.Defer, Server.Reply that answered
	lateReplies                atomic.Uint64 // Server.Reply refused: answered already, or the connection gone
	pushes, pushFull, pushGone atomic.Uint64 // PushServer.Push: written to gone connections, ErrFull, ErrPeerGone
	arenas                     atomic.Int64  // open: see ServerStats.Arenas
	acceptCalls                atomic.Uint64 // accept4 calls, for tests
}

// ServerStats are a server's counters.
type ServerStats struct {
	Conns int // attached now
	Procs int // client processes with connections attached (an arena each)
	// Arenas counts the arena memfds open: one per client process with
	// connections, the spare made for the next new process (at most one),
	// and those of departed processes awaiting their grace period (a few
	// sweeps, or the housekeeping goroutine's next 10 ms round).
	Arenas   int
	Accepted uint64 // connections that completed set-up
	Refused  uint64 // set-ups refused, for any of the reasons below
	// RefusedPolicy counts clients whose credentials the Policy refuses:
	// refused at the accept, before anything they send is read.
	RefusedPolicy uint64
	// RefusedBusy counts connections closed at the accept because too many
	// set-ups were pending: in all, for the client's uid, or for its process.
	RefusedBusy      uint64
	RefusedMalformed uint64 // a malformed hello or liveness page, or none within SetupTimeout
	RefusedVersion   uint64 // a hello of another wire version
	RefusedMismatch  uint64 // Req or Resp differ from the server's
	RefusedFull      uint64 // MaxConns attached (or MaxConnsPerUID of another uid), too many processes of the uid, or no arena
	Dropped          uint64 // connections dropped for corrupt shared state (call slots, push position)
	Kicked           uint64 // connections closed by a handler (Caller.Close)
	Closed           uint64 // connections whose client went away
	Requests         uint64 // requests handled (deferred ones included)
	Deferred         uint64 // calls deferred by their handler (Caller.Defer)
	Replies          uint64 // deferred calls answered (Server.Reply)
	// LateReplies counts Replies refused: the call was answered already,
	// or its connection had gone.
	LateReplies uint64
	Pushes      uint64 // messages pushed (PushServer.Push)
	PushFull    uint64 // Pushes refused with ErrFull: the client's ring was full
	PushGone    uint64 // Pushes refused with ErrPeerGone: the connection had gone
	// AcceptErrors counts accept(2) failures other than "nothing waiting"
	// (EMFILE, ENFILE, ENOMEM…); each pauses the listener (acceptPause).
	AcceptErrors uint64
}

// Listen binds name's socket and starts accepting connections; Serve starts
// answering them. Only one live server may hold a name: a second Listen
// gets ErrInUse; a dead server's leftovers are reclaimed. Req and Resp must
// be fixed-layout (layout.Of).
//
// With a Policy that lists no UIDs or GIDs the socket is 0600 in a 0700 or
// 0711 directory: only the server's uid can connect. With UIDs or GIDs the
// socket is 0666, and an empty Options.Dir means SharedDir(uid), mode 0711
// (others may traverse it, not list it): any uid can connect, and the
// server refuses every client the Policy does not admit at the accept, from
// the credentials the kernel recorded at its connect (SO_PEERCRED), before
// reading anything it sends.
func Listen[Req, Resp any](name string, opts Options) (*Server[Req, Resp], error) {
	return listenWith[Req, Resp](name, opts, nil)
}

// listenWith is Listen, and ListenPush with the push type's schema pushS.
func listenWith[Req, Resp any](name string, opts Options, pushS *layout.Schema) (*Server[Req, Resp], error) {
	if err := opts.fill(); err != nil {
		return nil, err
	}
	reqS, respS, err := schemas[Req, Resp]()
	if err != nil {
		return nil, err
	}
	if pushS != nil && pushStride(pushS.Size) > maxPushStride {
		return nil, msg.Errorf("%w: push type %s of %d bytes (at most %d)", ErrBadOption, pushS.Name, pushS.Size, maxPushStride-pushTrailer)
	}
	s := &Server[Req, Resp]{}
	if err := s.listen(name, opts, reqS, respS, pushS); err != nil {
		return nil, err
	}
	s.scratch = make([]scratch[Req, Resp], opts.Pollers)
	return s, nil
}

// listen is Listen once the layouts are known.
func (s *server) listen(name string, opts Options, reqS, respS, pushS *layout.Schema) error {
	dir := opts.Dir
	var err error
	if dir == "" && opts.Policy.shared() {
		dir, err = sharedDir()
	} else if dir == "" {
		dir, err = Dir()
	}
	if err != nil {
		return err
	}
	sockPath, lockPath, err := paths(dir, name)
	if err != nil {
		return err
	}
	*s = server{
		opts: opts, name: name, sockPath: sockPath, lockPath: lockPath, lfd: -1,
		reqS: reqS, respS: respS, pushS: pushS, fp: reqS.Fingerprint*31 + respS.Fingerprint,
		g:     geometry(opts.MaxConns, opts.Depth, reqS.Size, respS.Size),
		epoch: uint64(time.Now().UnixNano()), uid: uint32(os.Getuid()),
		domains: map[procKey]*domain{}, procs: make(uidCounts, 0, 8), uconns: make(uidCounts, 0, 8),
		loopDone: make(chan struct{}), closeDone: make(chan struct{}),
		live:  newOwnerPage("spinwire-server-liveness"),
		peers: map[inodeKey]*peerPage{},
		// Sized up front: growing them one append at a time leaves a dead
		// array in every size class (the GC may be off). byFd's pages are
		// touched only as far as the fds in use reach.
		byFd:    make([]*sconn, min(opts.MaxConns+64, 1<<16)),
		pending: make([]*sconn, 0, maxPending),
		wbuf:    make([]byte, 0, welcomeFixedLength+128), // an attach's welcome, or a short refusal
		wakeFd:  -1,
		peerLog: msg.Budget{Burst: 10}, errLog: msg.Budget{Burst: 1},
	}
	if pushS != nil {
		s.g = s.g.withPush(opts.PushDepth, pushStride(pushS.Size))
	}
	empty := []*domain{}
	s.arenas.Store(&empty)
	s.makePollers()
	// A map allocates its table at its first insert, which would be on
	// the housekeeping goroutine's P, in a size class of its own there:
	// one insert here, on the caller's goroutine with the rest of the
	// set-up. The table stays when its only key is deleted.
	s.domains[procKey{}] = nil
	delete(s.domains, procKey{})
	s.peers[inodeKey{}] = nil
	delete(s.peers, inodeKey{})
	if s.lockFd, err = lockName(lockPath); err != nil {
		return err
	}
	// We hold the lock: any socket file is a dead server's.
	os.Remove(sockPath)
	if err := s.bind(); err != nil {
		s.unbind()
		return err
	}
	// The first client process's domain (the spare) is made now, on the
	// caller's goroutine with the rest of the set-up, rather than on the
	// housekeeping goroutine, where its allocations would each take a span
	// of their own on that goroutine's P. Its cost while no one connects:
	// one page of the memfd (the header) and a table of two words per 64
	// of MaxConns.
	if s.spare, err = newDomain(s.g, s.fp, s.epoch, &s.stats.arenas); err != nil {
		s.unbind()
		return err
	}
	copy(s.hdr[:], s.spare.a.seg.Bytes())
	go s.loop()
	return nil
}

func (s *server) bind() error {
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, 0)
	if err != nil {
		return msg.Errorf("link: socket: %w", err)
	}
	s.lfd = fd
	if err := unix.Bind(fd, &unix.SockaddrUnix{Name: s.sockPath}); err != nil {
		return msg.Errorf("link: bind %s: %w", s.sockPath, err)
	}
	mode := uint32(0o600)
	if s.opts.Policy.shared() {
		mode = 0o666 // the policy refuses at the accept (Listen)
	}
	if err := fdpass.ChmodSocket(s.sockPath, mode); err != nil {
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

// loop is the housekeeping goroutine: accepts, set-ups, and deaths, for
// every connection, through one epoll fd.
func (s *server) loop() {
	defer close(s.loopDone)
	evs := make([]unix.EpollEvent, 128)
	s.hbuf = make([]byte, maxDatagram)
	dead := make([]*sconn, 0, 128)
	backoff := time.Duration(0)
	for {
		n, err := s.ep.wait(evs, s.waitMillis())
		s.mu.Lock()
		closed := s.closed
		s.mu.Unlock()
		if closed {
			return
		}
		if err != nil { // not EINTR: back off, as for accept errors
			backoff = min(max(2*backoff, 10*time.Millisecond), time.Second)
			if n, ok := s.errLog.Take(); ok {
				s.logf(n, "link: %s: epoll: %v; again in %v", s.name, err, backoff)
			}
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		for i := range n {
			switch tok := token(&evs[i]); {
			case tok == listenToken:
				s.accept()
			case tok == wakeToken:
				dead = s.reapPeers(dead)
			case tok < uint64(len(s.byFd)) && s.byFd[tok] != nil:
				c := s.byFd[tok]
				if c.state.Load() == connHandshake && evs[i].Events&unix.EPOLLIN != 0 {
					s.handshake(c)
				} else if !c.queued {
					c.queued = true
					dead = append(dead, c)
				}
			}
		}
		// A dead process closes all its sockets at once: free them together,
		// after one grace period for the whole batch.
		s.free(dead...)
		clear(dead)
		dead = dead[:0]
		s.expireHandshakes()
		s.resumeAccept()
		s.late.retry(s.pollersNow())
	}
}

// waitMillis is how long the loop may sleep in epoll_wait: 100 ms, less
// when the listener's pause or a late release is due sooner.
func (s *server) waitMillis() int {
	ms := 100
	if s.acc.paused {
		ms = min(ms, max(1, int((s.acc.until-time.Now().UnixNano()+999_999)/1e6)))
	}
	if s.late.pending() {
		ms = min(ms, 10)
	}
	return ms
}

// Stats returns the server's counters. Cost: a load per connection slot in
// use of every client process's arena; for monitoring, not for a hot path.
func (s *server) Stats() ServerStats {
	st := ServerStats{Accepted: s.stats.accepted.Load(),
		Dropped: s.stats.dropped.Load(), Closed: s.stats.closed.Load(), Kicked: s.stats.kicked.Load(),
		AcceptErrors:  s.stats.acceptErrors.Load(),
		RefusedPolicy: s.stats.refused[reasonPolicy].Load(), RefusedBusy: s.stats.refused[reasonBusy].Load(),
		RefusedMalformed: s.stats.refused[reasonMalformed].Load(), RefusedVersion: s.stats.refused[reasonVersion].Load(),
		RefusedMismatch: s.stats.refused[reasonMismatch].Load(), RefusedFull: s.stats.refused[reasonFull].Load(),
		Arenas:   int(s.stats.arenas.Load()),
		Deferred: s.stats.deferred.Load(), Replies: s.stats.replies.Load(), LateReplies: s.stats.lateReplies.Load(),
		Pushes: s.stats.pushes.Load(), PushFull: s.stats.pushFull.Load(), PushGone: s.stats.pushGone.Load()}
	for i := range s.stats.refused {
		st.Refused += s.stats.refused[i].Load()
	}
	for _, d := range *s.arenas.Load() {
		n := st.Conns
		for i := range 64 * int(d.words.Load()) {
			if c := d.conn(i); c != nil && c.state.Load() == connActive {
				st.Conns++
				st.Pushes += c.pushCount()
			}
		}
		if st.Conns > n {
			st.Procs++
		}
	}
	s.mu.Lock()
	for _, p := range s.pollers {
		st.Requests += p.requests.Load()
	}
	s.mu.Unlock()
	return st
}
