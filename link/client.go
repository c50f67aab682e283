package link

import (
	"errors"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/spinwire/spinwire/asm"
	"github.com/spinwire/spinwire/internal/msg"
	"github.com/spinwire/spinwire/layout"
	"github.com/spinwire/spinwire/spin"
	"golang.org/x/sys/unix"
)

// State is a Conn's connection state.
type State int32

const (
	Connected    State = iota // attached to a live server
	Reconnecting              // the server went away; redialling with backoff
	Closed                    // Close was called
)

func (s State) String() string {
	switch s {
	case Connected:
		return "connected"
	case Reconnecting:
		return "reconnecting"
	}
	return "closed"
}

// Conn is a client's connection. Its call methods (Call, Send, Poll) are
// for one goroutine at a time; open several Conns for concurrent callers.
//
// When the server dies, everything in flight ends in ErrPeerGone (a Call
// returns it; Poll returns it, and every id sent and not yet answered is
// lost — nothing is retried behind the caller's back), and the Conn
// redials in the background: after 1 ms, doubling to 50 ms, with jitter,
// checking the layouts again. Calls made while it reconnects wait for it
// up to their deadline, or fail at once with ErrPeerGone with
// DialOptions.FailFast.
type Conn[Req, Resp any] struct {
	name  string
	opts  DialOptions
	reqS  *layout.Schema
	respS *layout.Schema

	state  atomic.Int32
	next   atomic.Pointer[attachment] // installed by the redialler
	wake   chan struct{}              // buffered 1: a new attachment, or Close
	mu     sync.Mutex                 // serialises redial and Close
	closed bool                       // under mu

	// The caller goroutine's own.
	cur       *attachment
	spinTicks uint64
	w         waitState
	parkID    uint64
	parkResp  *Resp
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
	awaiting  []awaited // the calls awaiting a response, oldest first: a FIFO ring of Depth
	awHead    uint64    // the oldest
	awTail    uint64    // where the next goes
	epoch     uint64
	gen       uint64
	dead      atomic.Bool // set by the death watch when the socket closes
	broken    error       // sticky: corruption seen on this attachment
}

// awaited is a call in flight: its position, and the id it was sent with
// (the id word in its slot must still say so when the response comes).
type awaited struct{ pos, id uint64 }

func (a *attachment) release() {
	unwatchDeath(a.fd)
	unix.Close(a.fd)
	a.seg.unref()
	a.live.unref()
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
// no server listens. Once connected, the Conn reconnects by itself.
func Dial[Req, Resp any](name string, opts DialOptions) (*Conn[Req, Resp], error) {
	opts.fill()
	reqS, respS, dir, err := schemasAndDir[Req, Resp](opts.Dir)
	if err != nil {
		return nil, err
	}
	opts.Dir = dir
	c := &Conn[Req, Resp]{name: name, opts: opts, reqS: reqS, respS: respS, wake: make(chan struct{}, 1),
		spinTicks: uint64(opts.SpinFor.Seconds() * asm.TicksPerSecond())}
	c.w.done = make(chan error, 1)
	c.w.poll = c.pollParked
	a, err := c.attach()
	if err != nil {
		return nil, err
	}
	c.cur = a
	return c, nil
}

// attach makes one connection to the server: set-up, arena, rings.
func (c *Conn[Req, Resp]) attach() (*attachment, error) {
	sockPath, _, err := paths(c.opts.Dir, c.name)
	if err != nil {
		return nil, err
	}
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, msg.Errorf("link: socket: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			unix.Close(fd)
		}
	}()
	if err := unix.Connect(fd, &unix.SockaddrUnix{Name: sockPath}); err != nil {
		return nil, msg.Errorf("%w: connect %s: %v", ErrPeerGone, sockPath, err)
	}
	setTimeouts(fd, c.opts.SetupTimeout)
	h := hello{version: wireVersion, reqSize: uint32(c.reqS.Size), respSize: uint32(c.respS.Size),
		reqFP: c.reqS.Fingerprint, respFP: c.respS.Fingerprint, reqSchema: c.reqS.Encode(), respSchem: c.respS.Encode()}
	if err := startDeathWatch(); err != nil {
		return nil, err
	}
	// Our liveness page, if we have one: the server learns our death from it.
	if err := sendMsg(fd, h.encode(), ownPageFd()); err != nil {
		return nil, msg.Errorf("%w: hello: %v", ErrPeerGone, err)
	}
	buf := make([]byte, welcomeFixed+maxMessage)
	var fds [maxFds]int // the arena; the liveness page if the server has one
	n, err := recvMsg(fd, buf, fds[:])
	if err != nil {
		return nil, msg.Errorf("%w: welcome: %v", ErrPeerGone, err)
	}
	defer closeFds(fds[:]) // those not taken over below
	if n == 0 {
		return nil, msg.Errorf("%w: the server closed the connection during set-up", ErrPeerGone)
	}
	w, err := decodeWelcome(buf[:n])
	if err != nil {
		return nil, err
	}
	if w.status != statusOK || fds[0] < 0 {
		return nil, welcomeError(w)
	}
	afd := fds[0]
	fds[0] = -1
	seg, err := mapArena(afd, c.reqS.Fingerprint*31+c.respS.Fingerprint)
	if err != nil {
		return nil, err
	}
	g, err := checkGeometry(w, seg.seg.Body(), c.reqS.Size, c.respS.Size)
	if err != nil {
		seg.unref()
		return nil, err
	}
	var live *clientLiveness
	if fds[1] >= 0 {
		lfd := fds[1]
		fds[1] = -1
		if live, err = mapLiveness(lfd); err != nil {
			seg.unref()
			return nil, err
		}
		if live.dead() { // a dying server's last welcome
			seg.unref()
			live.unref()
			return nil, msg.Errorf("%w: the server's poller has died", ErrPeerGone)
		}
	}
	a := &attachment{fd: fd, seg: seg, live: live, epoch: w.epoch, gen: w.generation, awaiting: make([]awaited, g.depth)}
	body := seg.seg.Body()
	a.ring = connRing(body, g, int(w.index))
	a.bell, a.bit = bellWord(body, g, int(w.index)), 1<<(w.index%64)
	if err := watchDeath(fd, &a.dead, c.died, live); err != nil {
		seg.unref()
		live.unref()
		return nil, err
	}
	ok = true
	return a, nil
}

func welcomeError(w *welcome) error {
	switch w.status {
	case statusMismatch:
		return msg.Errorf("%w: %s", layout.ErrLayoutMismatch, w.message)
	case statusFull:
		return msg.Errorf("%w: %s", ErrServerFull, w.message)
	case statusDenied:
		return msg.Errorf("%w: %s", ErrPermission, w.message)
	case statusOK:
		return msg.Errorf("%w: welcome without an arena fd", ErrProtocol)
	}
	return msg.Errorf("%w: status %d: %s", ErrProtocol, w.status, w.message)
}

// died is the death watch's call when an attachment's socket closes (its
// dead flag is already set): the state turns Reconnecting at once (OnState
// is called here, on the death watch's goroutine) and a goroutine redials.
// If the state is Reconnecting already, the redial in progress sees the
// flag when it finishes and goes round again.
func (c *Conn[Req, Resp]) died() {
	if c.state.CompareAndSwap(int32(Connected), int32(Reconnecting)) {
		if c.opts.OnState != nil {
			c.opts.OnState(Reconnecting, nil)
		}
		// The first attempt waits too: a server that has just died is
		// not back yet. A timer, not a goroutine, until then: every Conn
		// of the process lands here at once, and waking threads for
		// goroutines that would only sleep would keep the CPUs from the
		// other client processes still learning of the death.
		time.AfterFunc(jitter(time.Millisecond), func() { c.redial(2 * time.Millisecond) })
	}
}

// jitter returns a duration between half and all of d.
func jitter(d time.Duration) time.Duration {
	return d/2 + time.Duration(rand.Int64N(int64(d/2)+1))
}

// redial reconnects with backoff (doubling to 50 ms, with jitter) until it
// succeeds or the Conn closes; it attempts at once, then waits backoff.
func (c *Conn[Req, Resp]) redial(backoff time.Duration) {
	for {
		c.mu.Lock()
		closed := c.closed
		c.mu.Unlock()
		if closed {
			return
		}
		a, err := c.attach()
		if err == nil {
			c.mu.Lock()
			if c.closed {
				c.mu.Unlock()
				a.release()
				return
			}
			// SYNC: release of the new attachment; the caller goroutine
			// picks it up with the Load in usable.
			if old := c.next.Swap(a); old != nil {
				old.release() // never used
			}
			c.mu.Unlock()
			c.setState(Connected)
			// The new server may have died already, while the state still
			// said Reconnecting: its death watch then left the redial to
			// us. Whoever turns the state back to Reconnecting redials.
			if a.dead.Load() {
				if !c.state.CompareAndSwap(int32(Connected), int32(Reconnecting)) {
					return
				}
				if c.opts.OnState != nil {
					c.opts.OnState(Reconnecting, nil)
				}
				continue
			}
			select {
			case c.wake <- struct{}{}:
			default:
			}
			return
		}
		if c.opts.OnState != nil {
			c.opts.OnState(Reconnecting, err)
		}
		time.Sleep(jitter(backoff))
		backoff = min(2*backoff, 50*time.Millisecond)
	}
}

func (c *Conn[Req, Resp]) setState(s State) {
	if State(c.state.Swap(int32(s))) != s && c.opts.OnState != nil {
		c.opts.OnState(s, nil)
	}
}

// State returns the connection state.
func (c *Conn[Req, Resp]) State() State { return State(c.state.Load()) }

// Epoch returns the server incarnation the Conn is attached to now (0
// while reconnecting).
func (c *Conn[Req, Resp]) Epoch() uint64 {
	if a, _ := c.usable(); a != nil {
		return a.epoch
	}
	return 0
}

// usable returns the attachment to use now, switching to a new one when
// the redialler has installed it. err is ErrPeerGone when the server is
// gone and no new attachment is ready, ErrClosed after Close.
func (c *Conn[Req, Resp]) usable() (*attachment, error) {
	a := c.cur
	if a != nil && a.broken == nil && !a.dead.Load() {
		return a, nil
	}
	if c.State() == Closed {
		return nil, ErrClosed
	}
	if a != nil && a.broken != nil && !a.dead.Load() {
		return nil, a.broken
	}
	if n := c.next.Swap(nil); n != nil {
		if a != nil {
			a.release()
		}
		c.cur = n
		return n, nil
	}
	return nil, ErrPeerGone
}

// await waits for a reconnection until deadline (the zero time: none).
func (c *Conn[Req, Resp]) await(deadline time.Time) (*attachment, error) {
	for {
		a, err := c.usable()
		if err != ErrPeerGone || c.opts.FailFast {
			return a, err
		}
		var timeout <-chan time.Time
		if !deadline.IsZero() {
			d := time.Until(deadline)
			if d <= 0 {
				return nil, ErrTimeout
			}
			t := time.NewTimer(d)
			defer t.Stop()
			timeout = t.C
		}
		select {
		case <-c.wake:
		case <-timeout:
			return nil, ErrTimeout
		}
	}
}

// Send publishes a request without waiting and returns its correlation id.
// It fails with ErrFull when the next of the connection's Depth call slots
// still holds a call — one not yet answered, or whose response has not
// been taken (take responses with Poll first) — and with ErrPeerGone when
// the server is gone (every id sent and not answered is then lost). Cost:
// a copy of Req, one release store, one atomic OR on the previous
// request's id word when that one was sent quiet (arena.go, the jump)
// and, unless the connection's doorbell bit is already set, one atomic OR.
func (c *Conn[Req, Resp]) Send(req *Req) (uint64, error) {
	a, err := c.usable()
	if err != nil {
		return 0, err
	}
	return sendOn(a, req)
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

// Flags in a request's id word, above the id itself.
const (
	// oneWay: the server runs the handler and sends no response.
	oneWay = 1 << 63
	// quietFlag: the client had nothing in flight when it sent this (and
	// so may have jumped to it; arena.go). After serving it the server
	// does not look at the next slot unless followsFlag is set: the
	// client's next message goes to its first slot, or it says so.
	quietFlag = 1 << 62
	// followsFlag: set on a quiet request (atomic OR) when the client
	// sends the next position behind it, before it checks the doorbell.
	followsFlag = 1 << 61
	idFlags     = oneWay | quietFlag | followsFlag
)

// publishOn puts req into the next call slot with the next id (| flags)
// and rings the doorbell.
func publishOn[Req any](a *attachment, req *Req, flags uint64) (uint64, error) {
	p := a.sendPos
	// Nothing in flight, and the last time there was nothing in flight
	// only one message went out before the next such moment: the client
	// calls one at a time, so start at the first slot (the jump, arena.go)
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
	*a.ring.id(p) = id | flags
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
	a, err := c.usable()
	if err != nil {
		return err
	}
	_, err = publishOn(a, req, oneWay)
	return err
}

// Poll takes up to max ready responses (max ≤ 0: all), in order, calling fn
// with each one's id and the response in shared memory (valid during fn).
// It returns how many it took.
func (c *Conn[Req, Resp]) Poll(max int, fn func(id uint64, resp *Resp)) (int, error) {
	a, err := c.usable()
	if err != nil {
		return 0, err
	}
	return pollOn(a, max, fn)
}

func pollOn[Resp any](a *attachment, max int, fn func(id uint64, resp *Resp)) (int, error) {
	n := 0
	for (max <= 0 || n < max) && a.awHead < a.awTail {
		w := a.awaiting[a.awHead&a.ring.mask]
		switch a.ring.response(w.pos) {
		case slotNo:
			if a.gone() {
				return n, ErrPeerGone
			}
			return n, nil
		case slotCorrupt:
			a.broken = msg.Errorf("%w: call slot at position %d", ErrCorrupt, w.pos)
			return n, a.broken
		}
		if id := atomic.LoadUint64(a.ring.id(w.pos)) &^ idFlags; id != w.id {
			a.broken = msg.Errorf("%w: response at position %d carries id %d, the oldest call awaiting one had %d", ErrCorrupt, w.pos, id, w.id)
			return n, a.broken
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

// Call sends req and waits for its response, copied into resp. It spins
// for DialOptions.SpinFor, then parks until the process's client poller
// brings the response, the deadline passes (ErrTimeout; the zero time
// means none) or the server dies (ErrPeerGone). Responses to earlier calls
// that timed out are discarded when they arrive. Every call ends in
// exactly one response or one error; a response is never delivered to the
// wrong call (its correlation id is checked). When every call slot is
// taken (by one-way messages the server has not handled yet, say), Call
// waits for one until the deadline. No allocation.
func (c *Conn[Req, Resp]) Call(deadline time.Time, req *Req, resp *Resp) error {
	a, err := c.await(deadline)
	if err != nil {
		return err
	}
	id, err := sendOn(a, req)
	if err == ErrFull {
		id, err = c.sendWhenFree(a, req, deadline)
	}
	if err != nil {
		return err
	}
	start := asm.Ticks()
	for i := 1; ; i++ {
		got, err := take(a, id, resp)
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

// sendWhenFree waits for a call slot — the server still holds earlier
// one-way messages, or calls that timed out still hold slots (their
// responses are taken and dropped here) — until deadline.
func (c *Conn[Req, Resp]) sendWhenFree(a *attachment, req *Req, deadline time.Time) (uint64, error) {
	for i := 0; ; i++ {
		if _, err := pollOn(a, 0, func(uint64, *Resp) {}); err != nil {
			return 0, err
		}
		id, err := sendOn(a, req)
		if err != ErrFull {
			return id, err
		}
		if i&255 == 255 && !deadline.IsZero() && time.Now().After(deadline) {
			return 0, ErrTimeout
		}
		asm.Pause()
	}
}

// take consumes responses up to the one for id; it reports whether that
// one arrived (copied into resp).
func take[Resp any](a *attachment, id uint64, resp *Resp) (bool, error) {
	got := false
	_, err := pollOn(a, 0, func(rid uint64, r *Resp) {
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
func (c *Conn[Req, Resp]) pollParked() (bool, error) { return take(c.cur, c.parkID, c.parkResp) }

// Close detaches: the server frees the slot when it sees the socket close.
// Calls waiting for a reconnection return ErrClosed.
func (c *Conn[Req, Resp]) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return ErrClosed
	}
	c.closed = true
	c.mu.Unlock()
	c.setState(Closed)
	if c.cur != nil {
		c.cur.release()
		c.cur = nil
	}
	if n := c.next.Swap(nil); n != nil {
		n.release()
	}
	select {
	case c.wake <- struct{}{}:
	default:
	}
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
	key  inodeKey
	refs int
}

// inodeKey names a shared file (an arena, a liveness page) by device and
// inode, so one process maps it once.
type inodeKey struct{ dev, ino uint64 }

var (
	arenasMu sync.Mutex
	arenas   = map[inodeKey]*sharedArena{}
)

func mapArena(fd int, fingerprint uint64) (*sharedArena, error) {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return nil, err
	}
	key := inodeKey{st.Dev, st.Ino}
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
