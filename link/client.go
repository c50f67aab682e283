package link

import (
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spinwire/spinwire/asm"
	"github.com/spinwire/spinwire/internal/msg"
	"github.com/spinwire/spinwire/internal/rundir"
	"github.com/spinwire/spinwire/layout"
	"golang.org/x/sys/unix"
)

// Conn is a client's connection. Its call methods (Call, Send, Poll) are
// for one goroutine at a time; open several Conns for concurrent callers.
//
// When the server dies, everything in flight ends in ErrPeerGone (a Call
// returns it; Poll returns it, and every id sent and not yet answered is
// lost — nothing is retried behind the caller's back), and the Conn
// redials in the background: after 1 ms, doubling to 500 ms, with jitter,
// checking the layouts again. Calls made while it reconnects wait for it
// up to their deadline, or fail at once with ErrPeerGone with
// DialOptions.FailFast.
type Conn[Req, Resp any] struct {
	name  string
	opts  DialOptions
	reqS  *layout.Schema
	respS *layout.Schema
	pushS *layout.Schema // DialPush's push type, or nil

	state    atomic.Int32
	next     atomic.Pointer[attachment] // installed by the redialler
	wake     chan struct{}              // buffered 1: a new attachment, or Close
	mu       sync.Mutex                 // serialises redial and Close
	closed   bool                       // under mu
	closing  atomic.Bool                // Close has begun (client_fence.go)
	released atomic.Bool                // the attachments are released
	inCall   uint64                     // 1 while a call runs (client_fence.go)
	stats    connStats
	altDir   string // Dial's second place to look for the socket, or ""

	// The caller goroutine's own.
	cur       *attachment
	spinTicks uint64
	w         waitState
	ctx       context.Context // the CallContext under way, or nil
	sampled   uint64          // Calls made, for DialOptions.Latency
	parkID    uint64
	parkResp  *Resp
	parkReq   *Req
	pollTake  func() (bool, error) // pollParked, made once
	pollSend  func() (bool, error) // pollFree, made once
}

// attachment is one connection to one server incarnation: a socket, a
// slot in an arena, and the positions in its rings.
type attachment struct {
	fd        int
	seg       *sharedArena
	live      *clientLiveness // the server's liveness page, or nil
	ring      callRing
	bell      *uint64
	bit       uint64
	sendPos   uint64    // next call position (private)
	lastOne   bool      // the last message sent was one way (no jump after it)
	quietOpen bool      // the last message sent was quiet (quietFlag): the next one sets followsFlag on it
	burst     int       // messages sent since the last moment with nothing in flight
	nextID    uint64    // correlation id of the last message sent
	tag       uint64    // added to every id in the slots: random, drawn at the attach (arena.go)
	awaiting  []awaited // the calls awaiting a response, oldest first: a FIFO ring of Depth
	awHead    uint64    // the oldest
	awTail    uint64    // where the next goes
	epoch     uint64
	gen       uint64
	push      pushRing    // DialPush's, in the arena (push.go); push.pos nil without
	recvPos   uint64      // the next push to take (private)
	pushEnded bool        // the server died and its pushes have all been taken
	dead      atomic.Bool // set by the death watch when the socket closes
	broken    error       // sticky: corruption seen on this attachment
	given     bool        // broken, and given up (breakOff)
}

// awaited is a call in flight: its position, and the id it was sent with
// (the id word in its slot must still say so when the response comes).
type awaited struct {
	pos, id   uint64
	taken     bool // its response was taken out of order (takeOut): skip it
	abandoned bool // its call ended without the response (timeout, context)
}

func (a *attachment) release() {
	unwatchDeath(a.fd)
	unix.Close(a.fd)
	a.seg.unref()
	a.live.unref()
}

// Dial connects to the server listening on name. When none listens — no
// socket file, or nobody accepting on it — it fails with an error wrapping
// ErrNoServer (which also matches ErrPeerGone), at once or, with
// DialOptions.WaitServer, once that long has passed without one. It fails
// with a *layout.MismatchError (naming the field, this process's side as
// Ours) when the server's Req or Resp differ from ours, with
// ErrServerFull, ErrPermission, or ErrPeerGone when the server goes away
// during set-up. A server with too many set-ups pending (from this
// process, its uid or in all) refuses for now: Dial tries again, after 1
// ms doubling to 50 ms, until DialOptions.SetupTimeout has passed, and
// then fails with ErrServerFull. Once connected, the Conn reconnects by
// itself.
//
// With an empty DialOptions.Dir, Dial looks for the socket in Dir() and
// then in SharedDir of this uid, where a server of this uid listens when
// its Policy admits other uids.
func Dial[Req, Resp any](name string, opts DialOptions) (*Conn[Req, Resp], error) {
	return dialWith[Req, Resp](name, opts, nil)
}

// dialWith is Dial, and DialPush with the push type's schema pushS.
func dialWith[Req, Resp any](name string, opts DialOptions, pushS *layout.Schema) (*Conn[Req, Resp], error) {
	opts.fill()
	reqS, respS, dir, err := schemasAndDir[Req, Resp](opts.Dir)
	if err != nil {
		return nil, err
	}
	c := &Conn[Req, Resp]{name: name, opts: opts, reqS: reqS, respS: respS, pushS: pushS, wake: make(chan struct{}, 1),
		spinTicks: uint64(opts.SpinFor.Seconds() * asm.TicksPerSecond())}
	if shared := SharedDir(uint32(os.Getuid())); opts.Dir == "" && shared != dir {
		c.altDir = shared
	}
	c.opts.Dir = dir
	registerCallFence()
	c.w.done = make(chan error, 1)
	c.pollTake, c.pollSend = c.pollParked, c.pollFree
	a, err := c.attachWaiting()
	if err != nil {
		return nil, err
	}
	c.cur = a
	return c, nil
}

// attachWaiting attaches, trying again after 1 ms, doubling to 50 ms:
// while no server listens, until DialOptions.WaitServer has passed; while
// the server has too many set-ups pending (errBusy), until
// DialOptions.SetupTimeout has.
func (c *Conn[Req, Resp]) attachWaiting() (*attachment, error) {
	start := time.Now()
	for backoff := time.Millisecond; ; backoff = min(2*backoff, 50*time.Millisecond) {
		a, err := c.attach()
		ns, noServer := err.(*noServerError)
		var left time.Duration
		switch {
		case noServer && c.opts.WaitServer > 0:
			if left = c.opts.WaitServer - time.Since(start); left <= 0 {
				ns.waited = c.opts.WaitServer
				return nil, ns
			}
		case errors.Is(err, errBusy):
			if left = c.opts.SetupTimeout - time.Since(start); left <= 0 {
				return nil, err
			}
		default:
			return a, err
		}
		if waitServerHook != nil {
			waitServerHook()
		}
		time.Sleep(min(backoff, left))
	}
}

// waitServerHook, if set (by tests), is called each time Dial finds no
// server and is about to wait for one.
var waitServerHook func()

// attach makes one connection to the server: set-up, arena, rings.
func (c *Conn[Req, Resp]) attach() (*attachment, error) {
	fd, err := c.connect()
	if err != nil {
		return nil, err
	}
	a, err := c.setUp(fd)
	if err != nil {
		unix.Close(fd)
		return nil, err
	}
	return a, nil
}

// connect opens a socket to the server of c's name, with the set-up
// timeout on its blocking calls (the connect too: a server whose backlog
// is full makes it wait), looking in c.altDir when the socket is not in
// DialOptions.Dir.
func (c *Conn[Req, Resp]) connect() (int, error) {
	fd, err := c.connectIn(c.opts.Dir)
	if ns, ok := err.(*noServerError); ok && c.altDir != "" {
		if fd, err = c.connectIn(c.altDir); err != nil {
			if _, none := err.(*noServerError); none {
				err = ns // say where a server of this uid would be first
			}
		}
	}
	return fd, err
}

func (c *Conn[Req, Resp]) connectIn(dir string) (int, error) {
	sockPath, _, err := paths(dir, c.name)
	if err != nil {
		return -1, err
	}
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, msg.Errorf("link: socket: %w", err)
	}
	setTimeouts(fd, c.opts.SetupTimeout)
	if err := unix.Connect(fd, &unix.SockaddrUnix{Name: sockPath}); err != nil {
		unix.Close(fd)
		if err == unix.ENOENT || err == unix.ECONNREFUSED {
			return -1, &noServerError{name: c.name, sock: sockPath}
		}
		return -1, msg.Errorf("%w: connect %s: %v", ErrPeerGone, sockPath, err)
	}
	if err := rundir.CheckServer("link: the server at "+sockPath, dir, fd, sharedOwner(dir)); err != nil {
		unix.Close(fd)
		return -1, msg.Errorf("%w: %v", ErrPermission, err)
	}
	return fd, nil
}

// setUp sends the hello on fd, reads the welcome, and maps what came with
// it: the arena and the server's liveness page. On success the attachment
// owns fd; on an error the caller closes it.
func (c *Conn[Req, Resp]) setUp(fd int) (*attachment, error) {
	if err := startDeathWatch(); err != nil {
		return nil, err
	}
	h := hello{version: wireVersion, reqSize: uint32(c.reqS.Size), respSize: uint32(c.respS.Size),
		reqFP: c.reqS.Fingerprint, respFP: c.respS.Fingerprint, reqSchema: c.reqS.Encode(), respSchem: c.respS.Encode()}
	if c.pushS != nil {
		h.flags, h.pushSize, h.pushFP, h.pushSchema = helloPush, uint32(c.pushS.Size), c.pushS.Fingerprint, c.pushS.Encode()
	}
	// Our liveness page, if we have one: the server learns our death from it.
	sendErr := sendMsg(fd, h.encode(), ownPageFd())
	fds := [maxFds]int{-1, -1} // the arena; the liveness page if the server has one
	defer closeFds(fds[:])     // those not taken over below
	w, err := readWelcome(fd, &fds)
	if sendErr != nil && (err != nil || w.status == statusOK) {
		// A server that refuses us at the accept closes before our
		// hello comes; its welcome, saying why, is then the answer.
		return nil, msg.Errorf("%w: hello: %v", ErrPeerGone, sendErr)
	}
	if err != nil {
		return nil, err
	}
	if w.status != statusOK || fds[0] < 0 {
		return nil, c.refused(w)
	}
	seg, g, err := c.openArena(w, takeFd(&fds[0]))
	if err != nil {
		return nil, err
	}
	live, err := takeLiveness(takeFd(&fds[1]))
	if err != nil {
		seg.unref()
		return nil, err
	}
	a := &attachment{fd: fd, seg: seg, live: live, epoch: w.epoch, gen: w.generation, awaiting: make([]awaited, g.depth),
		tag: rand.Uint64() &^ idFlags}
	body := seg.seg.Body()
	a.ring = connRing(body, &g, int(w.index))
	a.bell, a.bit = bellWord(body, &g, int(w.index)), 1<<(w.index%64)
	if c.pushS != nil {
		a.push = pushRingAt(body, g, int(w.index))
	}
	if err := watchDeath(fd, &a.dead, c.died, live); err != nil {
		seg.unref()
		live.unref()
		return nil, err
	}
	return a, nil
}

// readWelcome receives the server's welcome on fd, with the fds that came
// along in fds.
func readWelcome(fd int, fds *[maxFds]int) (*welcome, error) {
	buf := welcomeBufs.Get().(*[welcomeFixedLength + maxMessage]byte)
	defer welcomeBufs.Put(buf)
	n, err := recvMsg(fd, buf[:], fds[:])
	if err == unix.ECONNRESET {
		// A server that refused us at the accept, with our hello unread
		// in its socket, closed with a reset: the kernel reports that
		// first, and the welcome it sent before is still queued.
		n, err = recvMsg(fd, buf[:], fds[:])
	}
	if err != nil {
		return nil, msg.Errorf("%w: welcome: %v", ErrPeerGone, err)
	}
	if n == 0 {
		return nil, msg.Errorf("%w: the server closed the connection during set-up", ErrPeerGone)
	}
	return decodeWelcome(buf[:n])
}

// welcomeBufs holds receive buffers for welcomes (which carry up to a
// schema text): Conns dialled or redialled together share a few.
var welcomeBufs = sync.Pool{New: func() any { return new([welcomeFixedLength + maxMessage]byte) }}

// takeFd returns *fd and sets it to -1: its new owner closes it.
func takeFd(fd *int) int {
	f := *fd
	*fd = -1
	return f
}

// openArena checks the welcome's geometry against our types, then maps the
// arena fd (taking it), refusing a segment longer than that geometry, and
// checks the geometry against the mapping.
func (c *Conn[Req, Resp]) openArena(w *welcome, fd int) (*sharedArena, arenaGeometry, error) {
	g, err := welcomeGeometry(w, c.reqS.Size, c.respS.Size, c.pushSize())
	if err != nil {
		unix.Close(fd)
		return nil, g, err
	}
	page := int64(unix.Getpagesize())
	seg, err := mapArena(fd, c.reqS.Fingerprint*31+c.respS.Fingerprint, (layout.HeaderLength+int64(g.length)+page-1)/page*page)
	if err != nil {
		return nil, arenaGeometry{}, err
	}
	if g, err = checkGeometry(w, seg.seg.Body(), c.reqS.Size, c.respS.Size, c.pushSize()); err != nil {
		seg.unref()
		return nil, arenaGeometry{}, err
	}
	return seg, g, nil
}

// takeLiveness maps the server's liveness page fd (taking it; -1: the
// server has none) and refuses a page that already says the server died.
func takeLiveness(fd int) (*clientLiveness, error) {
	if fd < 0 {
		return nil, nil
	}
	live, err := mapLiveness(fd)
	if err != nil {
		return nil, err
	}
	if live.dead() { // a dying server's last welcome
		live.unref()
		return nil, msg.Errorf("%w: the server's poller has died", ErrPeerGone)
	}
	return live, nil
}

// refused returns the error for a welcome that refuses c: for a layout
// mismatch, the difference between c's type and the server's schema text,
// with c's type as Ours.
func (c *Conn[Req, Resp]) refused(w *welcome) error {
	switch w.status {
	case statusMismatch:
		what, ours := whatRequest, c.reqS
		switch {
		case w.mismatch == mismatchResp:
			what, ours = whatResponse, c.respS
		case w.mismatch == mismatchPush && c.pushS != nil && w.schemaFP == 0:
			return msg.Errorf("%w: the server declares no push type (it listens with Listen, not ListenPush)", ErrNoPush)
		case w.mismatch == mismatchPush && c.pushS != nil:
			what, ours = whatPush, c.pushS
		}
		if e := mismatchWith(what, ours, w.schemaFP, []byte(w.message)); e != nil {
			return e
		}
		return msg.Errorf("%w: the server reports a mismatch in a type that matches ours", ErrProtocol)
	case statusFull:
		return msg.Errorf("%w: %s", ErrServerFull, w.message)
	case statusBusy:
		return msg.Errorf("%w: %w: %s", ErrServerFull, errBusy, w.message)
	case statusDenied:
		return msg.Errorf("%w: %s", ErrPermission, w.message)
	case statusOK:
		return msg.Errorf("%w: welcome without an arena fd", ErrProtocol)
	}
	return msg.Errorf("%w: status %d: %s", ErrProtocol, w.status, w.message)
}

// Close detaches: the server frees the slot when it sees the socket close.
// It may be called from any goroutine: a call of the Conn that is running
// — spinning, parked, waiting for a free slot or for a reconnection —
// returns ErrClosed, as do later calls and a second Close. The shared
// memory is released at once when no call runs, else when the running
// call returns (client_fence.go). Cost: one membarrier(2) system call.
func (c *Conn[Req, Resp]) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return ErrClosed
	}
	c.closed = true
	c.mu.Unlock()
	// SYNC: the store of closing, then the load of inCall, with the
	// membarrier between; pairs with enter and leave.
	c.closing.Store(true)
	fenced := fenceCalls()
	c.setState(Closed)
	select {
	case c.wake <- struct{}{}:
	default:
	}
	clientPoller.kickNow()
	if fenced && atomic.LoadUint64(&c.inCall) == 0 {
		c.releaseAll()
	}
	return nil
}

// pushSize is the size of c's push type, or 0 without one.
func (c *Conn[Req, Resp]) pushSize() uintptr {
	if c.pushS == nil {
		return 0
	}
	return c.pushS.Size
}
