package link

import (
	"encoding/binary"
	"sync/atomic"
	"unsafe"

	"github.com/spinwire/spinwire/layout"
	"golang.org/x/sys/unix"
)

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

func (c *sconn) info() ConnInfo {
	i := ConnInfo{PID: c.pid, UID: c.uid, GID: c.gid, Index: int(c.index)}
	if why := c.why.Load(); why != nil {
		i.Reason = *why
	}
	return i
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

// arena is the server's handle on one trust domain's segment.
type arena struct {
	seg  *layout.Segment
	uid  uint32
	g    arenaGeometry
	body []byte
}

func newArena(uid uint32, g arenaGeometry, fingerprint uint64) (*arena, error) {
	seg, err := layout.Create(g.length, layout.Options{Fingerprint: fingerprint, Sparse: true})
	if err != nil {
		return nil, err
	}
	a := &arena{seg: seg, uid: uid, g: g, body: seg.Body()}
	le := binary.LittleEndian
	b := a.body
	le.PutUint32(b[arenaVersionOffset:], arenaVersion)
	le.PutUint32(b[arenaMaxConnsOffset:], uint32(g.maxConns))
	le.PutUint32(b[arenaDepthOffset:], uint32(g.depth))
	le.PutUint32(b[arenaStrideOffset:], uint32(g.stride))
	le.PutUint64(b[arenaStepOffset:], uint64(g.step))
	le.PutUint64(b[arenaBellOffOffset:], uint64(g.bellOff))
	le.PutUint64(b[arenaSlotsOffOffset:], uint64(g.slotsOff))
	le.PutUint32(b[arenaUIDOffset:], uid)
	// SYNC: release of the arena header; clients read it after the
	// SCM_RIGHTS hand-over (a syscall, itself a barrier).
	atomic.StoreUint64((*uint64)(unsafe.Pointer(&b[arenaMagicOffset])), arenaMagic)
	return a, nil
}

// hole reports whether the n bytes at file offset off lie in a hole of the
// arena's memfd: no page there was ever written, so they read as zero and
// hold no memory. It asks lseek(SEEK_DATA), which tmpfs answers exactly
// (a swapped-out page counts as data). Cost: one syscall. Any error
// answers false: the caller then writes the bytes.
func (a *arena) hole(off, n int64) bool {
	next, err := unix.Seek(a.seg.Fd(), off, unix.SEEK_DATA)
	if err == unix.ENXIO {
		return true // no data from off to the end of the file
	}
	return err == nil && next >= off+n
}
