package link

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/spinwire/spinwire/asm"
	"github.com/spinwire/spinwire/layout"
	"github.com/spinwire/spinwire/spin"
	"golang.org/x/sys/unix"
)

// Conn is a client's connection. Its methods are for one goroutine at a
// time; open several Conns for concurrent callers.
type Conn[Req, Resp any] struct {
	fd        int
	seg       *sharedArena
	req, resp slotRing
	bell      *uint64
	bit       uint64
	sendPos   uint64 // next request position (private)
	recvPos   uint64 // next response position (private)
	nextID    uint64 // correlation id of the next request
	epoch     uint64
	gen       uint64
	spinTicks uint64
	dead      atomic.Bool // set by the death watch when the socket closes
	broken    error       // sticky: corruption or death seen by this Conn
	closed    bool

	// A parked Call: the client poller fills these.
	w        waitState
	parkID   uint64
	parkResp *Resp
}

// waitState is a parked Call, as the process's client poller sees it.
type waitState struct {
	done     chan error // buffered 1: the poller's verdict
	deadline uint64     // ticks; 0: none
	poll     func() (bool, error)
	next     *waitState
}

// Dial connects to the server listening on name. It fails with
// layout.ErrLayoutMismatch (naming the field) when the server's Req or
// Resp differ from ours, ErrServerFull, ErrPermission, or ErrPeerGone when
// no server listens.
func Dial[Req, Resp any](name string, opts DialOptions) (*Conn[Req, Resp], error) {
	opts.fill()
	reqS, err := layout.Of[Req]()
	if err != nil {
		return nil, err
	}
	respS, err := layout.Of[Resp]()
	if err != nil {
		return nil, err
	}
	dir := opts.Dir
	if dir == "" {
		if dir, err = Dir(); err != nil {
			return nil, err
		}
	}
	sockPath, _, err := paths(dir, name)
	if err != nil {
		return nil, err
	}
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("link: socket: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			unix.Close(fd)
		}
	}()
	if err := unix.Connect(fd, &unix.SockaddrUnix{Name: sockPath}); err != nil {
		return nil, fmt.Errorf("%w: connect %s: %v", ErrPeerGone, sockPath, err)
	}
	setTimeouts(fd, opts.SetupTimeout)
	h := hello{version: wireVersion, reqSize: uint32(reqS.Size), respSize: uint32(respS.Size),
		reqFP: reqS.Fingerprint, respFP: respS.Fingerprint, reqSchema: reqS.Encode(), respSchem: respS.Encode()}
	if err := sendMsg(fd, h.encode(), -1); err != nil {
		return nil, fmt.Errorf("%w: hello: %v", ErrPeerGone, err)
	}
	buf := make([]byte, welcomeFixed+maxMessage)
	n, afd, err := recvMsg(fd, buf)
	if err != nil {
		return nil, fmt.Errorf("%w: welcome: %v", ErrPeerGone, err)
	}
	if n == 0 {
		return nil, fmt.Errorf("%w: the server closed the connection during set-up", ErrPeerGone)
	}
	w, err := decodeWelcome(buf[:n])
	if err != nil || w.status != statusOK || afd < 0 {
		if afd >= 0 {
			unix.Close(afd)
		}
		if err != nil {
			return nil, err
		}
		return nil, welcomeError(w, afd)
	}
	seg, err := mapArena(afd, reqS.Fingerprint*31+respS.Fingerprint)
	if err != nil {
		return nil, err
	}
	g, err := checkGeometry(w, seg.seg.Body(), reqS.Size, respS.Size)
	if err != nil {
		seg.unref()
		return nil, err
	}
	c := &Conn[Req, Resp]{fd: fd, seg: seg, epoch: w.epoch, gen: w.generation,
		spinTicks: uint64(opts.SpinFor.Seconds() * asm.TicksPerSecond())}
	body := seg.seg.Body()
	c.req, c.resp = connRings(body, g, int(w.index))
	c.bell, c.bit = bellWord(body, g, int(w.index)), 1<<(w.index%64)
	c.w.done = make(chan error, 1)
	c.w.poll = c.pollParked
	if err := watchDeath(fd, &c.dead); err != nil {
		seg.unref()
		return nil, err
	}
	ok = true
	return c, nil
}

func welcomeError(w *welcome, afd int) error {
	switch w.status {
	case statusMismatch:
		return fmt.Errorf("%w: %s", layout.ErrLayoutMismatch, w.message)
	case statusFull:
		return fmt.Errorf("%w: %s", ErrServerFull, w.message)
	case statusDenied:
		return fmt.Errorf("%w: %s", ErrPermission, w.message)
	case statusOK:
		return fmt.Errorf("%w: welcome without an arena fd", ErrProtocol)
	}
	return fmt.Errorf("%w: status %d: %s", ErrProtocol, w.status, w.message)
}

// err returns the Conn's sticky error, noticing a death.
func (c *Conn[Req, Resp]) err() error {
	if c.broken == nil && c.dead.Load() {
		c.broken = ErrPeerGone
	}
	if c.closed {
		return ErrClosed
	}
	return c.broken
}

// Send publishes a request without waiting and returns its correlation id.
// It fails with ErrFull when Depth requests are in flight (take responses
// with Poll first). Cost: a copy of Req, one release store and, unless the
// connection's doorbell bit is already set, one atomic OR.
func (c *Conn[Req, Resp]) Send(req *Req) (uint64, error) {
	if err := c.err(); err != nil {
		return 0, err
	}
	p := c.sendPos
	if p-c.recvPos >= c.req.depth+c.resp.depth {
		return 0, ErrFull
	}
	switch c.req.free(p) {
	case slotNo:
		return 0, ErrFull
	case slotCorrupt:
		c.broken = fmt.Errorf("%w: request slot at position %d", ErrCorrupt, p)
		return 0, c.broken
	}
	*(*Req)(c.req.slot(p)) = *req
	c.nextID++
	id := c.nextID
	*c.req.id(p) = id
	c.req.publish(p)
	c.sendPos = p + 1
	// SYNC: the OR (a full barrier) comes after publish; pairs with the
	// server's swap of the word in sweep. Skip it if the bit is set: the
	// server has not taken the word yet and will see this request too.
	if atomic.LoadUint64(c.bell)&c.bit == 0 {
		atomic.OrUint64(c.bell, c.bit)
	}
	return id, nil
}

// Poll takes up to max ready responses (max ≤ 0: all), in order, calling fn
// with each one's id and the response in shared memory (valid during fn).
// It returns how many it took.
func (c *Conn[Req, Resp]) Poll(max int, fn func(id uint64, resp *Resp)) (int, error) {
	n := 0
	for (max <= 0 || n < max) && c.recvPos < c.sendPos {
		p := c.recvPos
		switch c.resp.ready(p) {
		case slotNo:
			return n, c.err()
		case slotCorrupt:
			c.broken = fmt.Errorf("%w: response slot at position %d", ErrCorrupt, p)
			return n, c.broken
		}
		id := *c.resp.id(p)
		if want := c.nextID - (c.sendPos - p) + 1; id != want {
			c.broken = fmt.Errorf("%w: response at position %d carries id %d, request had %d", ErrCorrupt, p, id, want)
			return n, c.broken
		}
		fn(id, (*Resp)(c.resp.slot(p)))
		c.resp.consumed(p)
		c.recvPos = p + 1
		n++
	}
	return n, c.err()
}

// Call sends req and waits for its response, copied into resp. It spins
// for DialOptions.SpinFor, then parks until the process's client poller
// brings the response, the deadline passes (ErrTimeout; the zero time
// means none) or the server dies (ErrPeerGone). Responses to earlier calls
// that timed out are discarded when they arrive. Every call ends in one
// response or one error. No allocation.
func (c *Conn[Req, Resp]) Call(deadline time.Time, req *Req, resp *Resp) error {
	id, err := c.Send(req)
	if err == ErrFull {
		// Old timed-out calls still hold slots: take what has arrived.
		c.discard()
		id, err = c.Send(req)
	}
	if err != nil {
		return err
	}
	start := asm.Ticks()
	for i := 1; ; i++ {
		got, err := c.take(id, resp)
		if got || err != nil {
			return err
		}
		if i&63 == 0 && asm.Ticks()-start > c.spinTicks {
			break
		}
		asm.Pause()
	}
	return c.park(id, deadline, resp)
}

// take consumes responses up to the one for id; it reports whether that
// one arrived (copied into resp).
func (c *Conn[Req, Resp]) take(id uint64, resp *Resp) (bool, error) {
	got := false
	_, err := c.Poll(0, func(rid uint64, r *Resp) {
		if rid == id {
			*resp = *r
			got = true
		}
	})
	if got {
		return true, nil
	}
	return false, err
}

// discard drops the responses that have arrived for calls that timed out.
func (c *Conn[Req, Resp]) discard() {
	c.Poll(0, func(uint64, *Resp) {})
}

// park hands the wait to the client poller.
func (c *Conn[Req, Resp]) park(id uint64, deadline time.Time, resp *Resp) error {
	c.w.deadline = 0
	if !deadline.IsZero() {
		d := time.Until(deadline)
		if d <= 0 {
			return ErrTimeout
		}
		c.w.deadline = asm.Ticks() + uint64(d.Seconds()*asm.TicksPerSecond())
	}
	c.parkID, c.parkResp = id, resp
	clientPoller.add(&c.w)
	err := <-c.w.done
	c.parkResp = nil
	return err
}

// pollParked is the client poller's check of a parked Call.
func (c *Conn[Req, Resp]) pollParked() (bool, error) { return c.take(c.parkID, c.parkResp) }

// Epoch returns the server incarnation this Conn is attached to.
func (c *Conn[Req, Resp]) Epoch() uint64 { return c.epoch }

// Close detaches: the server frees the slot when it sees the socket close.
func (c *Conn[Req, Resp]) Close() error {
	if c.closed {
		return ErrClosed
	}
	c.closed = true
	unwatchDeath(c.fd)
	unix.Close(c.fd)
	c.seg.unref()
	return nil
}

// ---- the process's client poller ----

// poller serves parked Calls of every Conn in the process: one goroutine
// that polls their response slots, ends them on response, deadline or
// death, and sleeps (Backoff) when nothing arrives.
type poller struct {
	mu      sync.Mutex
	head    *waitState
	kick    chan struct{}
	started bool
}

var clientPoller = &poller{kick: make(chan struct{}, 1)}

func (p *poller) add(w *waitState) {
	p.mu.Lock()
	w.next = p.head
	p.head = w
	if !p.started {
		p.started = true
		go p.run()
	}
	p.mu.Unlock()
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

func (p *poller) run() {
	idle := &spin.Backoff{Spins: 2000, Yields: 50, MinPark: 20 * time.Microsecond, MaxPark: 500 * time.Microsecond}
	for {
		p.mu.Lock()
		if p.head == nil {
			p.mu.Unlock()
			<-p.kick
			continue
		}
		work := 0
		now := asm.Ticks()
		for pp := &p.head; *pp != nil; {
			w := *pp
			got, err := w.poll()
			if !got && err == nil && w.deadline != 0 && now > w.deadline {
				err = ErrTimeout
			}
			if got || err != nil {
				*pp = w.next
				w.next = nil
				w.done <- err
				work++
				continue
			}
			pp = &w.next
		}
		p.mu.Unlock()
		idle.Idle(work)
	}
}

// ---- arenas shared by the Conns of a process ----

// sharedArena is one mapping of an arena, shared by every Conn of this
// process in the same trust domain of the same server (keyed by the
// memfd's inode), so a thousand Conns map it once.
type sharedArena struct {
	seg  *layout.Segment
	key  arenaKey
	refs int
}

type arenaKey struct{ dev, ino uint64 }

var (
	arenasMu sync.Mutex
	arenas   = map[arenaKey]*sharedArena{}
)

func mapArena(fd int, fingerprint uint64) (*sharedArena, error) {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return nil, err
	}
	key := arenaKey{st.Dev, st.Ino}
	arenasMu.Lock()
	defer arenasMu.Unlock()
	if a := arenas[key]; a != nil {
		unix.Close(fd)
		a.refs++
		return a, nil
	}
	seg, err := layout.OpenFd(fd, layout.Options{Fingerprint: fingerprint, Sparse: true})
	if err != nil {
		unix.Close(fd)
		return nil, err
	}
	if uintptr(unsafe.Pointer(unsafe.SliceData(seg.Body())))%slotAlign != 0 {
		seg.Close()
		return nil, errors.New("link: arena body misaligned")
	}
	a := &sharedArena{seg: seg, key: key, refs: 1}
	arenas[key] = a
	return a, nil
}

func (a *sharedArena) unref() {
	arenasMu.Lock()
	defer arenasMu.Unlock()
	if a.refs--; a.refs == 0 {
		delete(arenas, a.key)
		a.seg.Close()
	}
}
