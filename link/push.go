package link

import (
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/spinwire/spinwire/asm"
	"github.com/spinwire/spinwire/internal/msg"
	"github.com/spinwire/spinwire/layout"
	"golang.org/x/sys/unix"
)

// Server push. A server declared with ListenPush has a push type P; a
// client that dials with DialPush (and the same P, checked by fingerprint
// like Req and Resp) gets a push ring on its connection: one-way messages
// from the server, in order, which it takes with TryRecv, Recv or Drain.
// A connection dialled with Dial has no ring and costs what it did. The
// rings are the arena's push region (arena.go), one per connection slot:
//
//	+---------------------------------------------------------------+
//	| Position (u64): the next message the client will take         |  0  written by the client
//	| reserved … to 128                                             |  8
//	+---------------------------------------------------------------+
//	| Slot 0: P, padding, then Sequence (u64) ending the slot       | 128 written by the server
//	| Slot 1                                                        | + Push Stride
//	| …  (Push Depth slots)                                         |
//	+---------------------------------------------------------------+
//
// Protocol, for message p in slot p mod Depth, lap = p / Depth: the slot's
// sequence word holds lap while the slot waits for p (the previous lap's
// message was taken, or nothing was ever written there: zero, what a
// hole of the memfd reads), and lap+1 once p is in it. The server writes
// the message, then stores lap+1 (release); the client, seeing lap+1
// (acquire), copies the message out and then stores p+1 in its Position
// (release). The server writes p only when p < Position + Depth: it
// keeps the client's Position as it last read it and reads it again
// (acquire) only when that says the ring is full, so a client that keeps
// up costs the server one read of its line per Depth messages. When the
// ring is still full Push returns ErrFull at once: a client that does not
// take its messages never blocks the server.
//
// Both sides distrust what they read. The client takes any sequence word
// other than lap or lap+1 for corruption and gives the attachment up
// (ErrCorrupt, as for its call slots). The server accepts a Position only
// between the one it last read and its own next position; anything else
// (a client writing into its ring) drops that connection, and only it.
// The server resets a ring (Position and the sequence words, on pages
// that exist) when a push connection takes the slot.

const (
	pushHeader    = blockAlign // the ring's first block: the client's Position
	pushAlign     = 4096       // the push region starts on a page of its own
	pushTrailer   = 8          // the sequence word ending a push slot
	maxPushStride = 64 << 10   // bytes of a push slot; bounds what a welcome may say
	// MinPushDepth and MaxPushDepth bound Options.PushDepth.
	MinPushDepth = 2
	MaxPushDepth = 4096
)

// pushStride is the bytes of a push slot for a message of size bytes.
func pushStride(size uintptr) int {
	return (int(size) + pushTrailer + slotAlign - 1) &^ (slotAlign - 1)
}

// pushRing is one connection's push ring; each side keeps its own
// positions privately.
type pushRing struct {
	pos    *uint64        // the client's Position
	base   unsafe.Pointer // slot 0
	mask   uint64
	shift  uint // log2 Depth
	stride uintptr
}

func pushRingAt(body []byte, g arenaGeometry, index int) pushRing {
	off := g.pushRingOff(index)
	d := uint64(g.pushDepth)
	shift := uint(0)
	for 1<<shift < d {
		shift++
	}
	return pushRing{pos: (*uint64)(unsafe.Pointer(&body[off])), base: unsafe.Pointer(&body[off+pushHeader]),
		mask: d - 1, shift: shift, stride: uintptr(g.pushStride)}
}

func (r *pushRing) slot(p uint64) unsafe.Pointer {
	return unsafe.Add(r.base, uintptr(p&r.mask)*r.stride)
}

func (r *pushRing) seq(p uint64) *uint64 {
	return (*uint64)(unsafe.Add(r.slot(p), r.stride-pushTrailer))
}

func (r *pushRing) lap(p uint64) uint64 { return p >> r.shift }

// Peer names one connection, for Push: Caller.Peer in a handler,
// ConnInfo.Peer from Server.Conns or OnConnect. It is a small value,
// compared and copied freely; it names that connection only, never one
// that takes its slot later. The zero Peer names none.
type Peer struct{ c *sconn }

// Peer returns the connection a request came on, for Push.
func (c *Caller) Peer() Peer { return Peer{c.c} }

// Pushes reports whether the connection takes pushes (it was dialled with
// DialPush).
func (p Peer) Pushes() bool { return p.c != nil && p.c.push }

// pushState is the server's side of one connection's push ring, made at
// its first Push.
//
// Against the connection's release, the mutex does what Reply's pin does
// (defer.go): Push checks the connection's state with the mutex held and
// writes only if it is active; free stores the state (closing), then
// takes and drops the mutex of a pushState it finds, so that a Push under
// way has finished. A pushState made after free looked finds the state
// closing: the CompareAndSwap that installs it and free's load are
// sync/atomic operations, sequentially consistent, as are the state's
// store and load.
type pushState struct {
	mu    sync.Mutex // Pushers to one connection take turns
	ring  pushRing
	head  uint64 // the next position to write: also the count of pushes
	limit uint64 // the client's Position as last read, + Depth
}

// pushOf returns c's pushState, making it if needed (any goroutine).
func (c *sconn) pushOf(x *connExt) *pushState {
	if p := x.push.Load(); p != nil {
		return p
	}
	p := &pushState{ring: c.pushRing()}
	p.limit = p.ring.mask + 1
	if x.push.CompareAndSwap(nil, p) {
		return p
	}
	return x.push.Load()
}

// pushDone waits for a Push to c under way, if any, and returns how many
// messages were pushed to c: c's state is closing already (free).
func (c *sconn) pushDone() uint64 {
	x := c.ext.Load()
	if x == nil {
		return 0
	}
	p := x.push.Load()
	if p == nil {
		return 0
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.head
}

// PushServer is a Server that can also push messages of type P to the
// connections that take them. Everything else is the Server's.
type PushServer[Req, Resp, P any] struct {
	*Server[Req, Resp]
}

// ListenPush is Listen for a server that pushes messages of type P (a
// fixed-layout type) to clients that dial with DialPush and the same P:
// each such connection gets a ring of Options.PushDepth messages in its
// process's arena. Clients that Dial without pushes connect as to any
// server.
func ListenPush[Req, Resp, P any](name string, opts Options) (*PushServer[Req, Resp, P], error) {
	pushS, err := layout.Of[P]()
	if err != nil {
		return nil, err
	}
	s, err := listenWith[Req, Resp](name, opts, pushS)
	if err != nil {
		return nil, err
	}
	return &PushServer[Req, Resp, P]{s}, nil
}

// Push copies m into to's push ring, for its client to take in order.
// It never waits: it returns ErrFull when the client has not taken the
// ring's PushDepth earlier messages (ServerStats.PushFull), ErrPeerGone
// when the connection has gone, ErrNoPush when it does not take pushes,
// and an error wrapping ErrCorrupt when the client wrote a Position no
// correct client writes — that connection is then dropped. Safe from any
// goroutine; pushes to one connection take turns on a mutex. Cost: a
// copy of P, a mutex, a release store, and a read of the client's line
// once per PushDepth messages (BenchmarkPushOneWay). No allocation after
// a connection's first Push.
func (s *PushServer[Req, Resp, P]) Push(to Peer, m *P) error {
	slot, ps, err := s.claim(to.c)
	if err != nil {
		return err
	}
	*(*P)(slot) = *m
	s.commit(ps)
	return nil
}

// claim locks c's pushState and checks that c is active and its next
// slot free; it returns the slot with the lock held, for commit to
// release, or an error without.
func (s *server) claim(c *sconn) (unsafe.Pointer, *pushState, error) {
	if c == nil || !c.push {
		return nil, nil, ErrNoPush
	}
	ps := c.pushOf(c.extOf(uint64(s.g.depth)))
	ps.mu.Lock()
	if c.state.Load() != connActive {
		ps.mu.Unlock()
		s.stats.pushGone.Add(1)
		return nil, nil, msg.Errorf("%w: pushing to connection %d of pid %d", ErrPeerGone, c.index, c.pid)
	}
	r, h := &ps.ring, ps.head
	if h >= ps.limit {
		// SYNC: acquire of the client's Position; pairs with the
		// release stores in recvOn and Drain: the slots below it are free.
		pos := atomic.LoadUint64(r.pos)
		if pos < ps.limit-(r.mask+1) || pos > h {
			ps.mu.Unlock()
			why := msg.Sprintf("push position %d outside %d…%d", pos, ps.limit-(r.mask+1), h)
			s.drop(c, why)
			return nil, nil, msg.Errorf("%w: %s", ErrCorrupt, why)
		}
		ps.limit = pos + r.mask + 1
		if h >= ps.limit {
			ps.mu.Unlock()
			s.stats.pushFull.Add(1)
			return nil, nil, ErrFull
		}
	}
	return r.slot(h), ps, nil
}

// commit publishes the message in claim's slot and unlocks.
func (s *server) commit(ps *pushState) {
	h := ps.head
	// SYNC: release of the message; pairs with the acquire in pushReady.
	asm.StoreRelease64(ps.ring.seq(h), ps.ring.lap(h)+1)
	ps.head = h + 1
	ps.mu.Unlock()
}

// pushRing is c's push ring, in its process's arena.
func (c *sconn) pushRing() pushRing { return pushRingAt(c.d.a.body, c.d.a.g, int(c.index)) }

// resetPush puts c's push ring back to its initial state at the attach:
// Position and the sequence words, on pages of the memfd that exist (as
// reset does for the call slots). Cost: one lseek per page of the ring.
func (c *sconn) resetPush() {
	r := c.pushRing()
	a := c.d.a
	body := uintptr(unsafe.Pointer(unsafe.SliceData(a.body)))
	page := int64(unix.Getpagesize())
	lastPage, exists := int64(-1), false
	zero := func(w *uint64) {
		off := layout.HeaderLength + int64(uintptr(unsafe.Pointer(w))-body)
		if p := off / page; p != lastPage {
			lastPage, exists = p, !a.hole(p*page, page)
		}
		if exists {
			atomic.StoreUint64(w, 0)
		}
	}
	zero(r.pos)
	for p := range r.mask + 1 {
		zero(r.seq(p))
	}
}

// pushCount returns how many messages were pushed to c so far.
func (c *sconn) pushCount() uint64 {
	if x := c.ext.Load(); x != nil {
		if p := x.push.Load(); p != nil {
			p.mu.Lock()
			defer p.mu.Unlock()
			return p.head
		}
	}
	return 0
}
