package link

import (
	"encoding/binary"
	"math/bits"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/spinwire/spinwire/layout"
	"golang.org/x/sys/unix"
)

// procKey names a client process, the server's trust domain: the pid and
// uid its connections came with (SO_PEERCRED) and the process's start time
// (procStart), so that a pid reused after the process died names another
// domain.
type procKey struct {
	pid   int32
	uid   uint32
	start uint64
}

// domain is one trust domain — one client process — with its arena, its
// connections and its liveness page. Only that process is handed the
// arena's fd, so whatever it writes there reaches its own connections
// only.
type domain struct {
	a      *arena
	key    procKey
	chunks []chunkRef   // by slot index / 64
	words  atomic.Int32 // doorbell words the pollers scan: the chunks ever installed
	n      int          // connections attached (epoll goroutine)
	listed bool         // in the pollers' list (epoll goroutine)
	peer   *peerPage    // the process's liveness page, or nil
}

// chunkRef is a domain's state for the 64 slots of one doorbell word: their
// connections and which of them are taken. One table of both, so that a
// domain's tables are one allocation.
type chunkRef struct {
	conns atomic.Pointer[connChunk] // nil until a slot in it is taken
	used  uint64                    // taken slots, a bit each (epoll goroutine)
}

// connChunk holds the connections of 64 consecutive slots: those of one
// doorbell word.
type connChunk [64]atomic.Pointer[sconn]

// active returns the connection of the lowest bit set in b (b ≠ 0) if it
// is attached and active, else nil: what a poller serves of a doorbell
// word. Inlined.
func (ch *connChunk) active(b uint64) *sconn {
	// SYNC: acquire of the connection; pairs with its Store in attach.
	if c := ch[bits.TrailingZeros64(b)].Load(); c != nil && c.state.Load() == connActive {
		return c
	}
	return nil
}

// newDomain makes a domain with a fresh arena of geometry g; open counts
// the server's open arenas (ServerStats.Arenas), one more until its close.
func newDomain(g arenaGeometry, fingerprint, epoch uint64, open *atomic.Int64) (*domain, error) {
	a, err := newArena(g, fingerprint, epoch)
	if err != nil {
		return nil, err
	}
	a.open = open
	open.Add(1)
	words := (g.maxConns + 63) / 64
	return &domain{a: a, chunks: make([]chunkRef, words)}, nil
}

// conn returns the connection in slot index, or nil. Two atomic loads.
func (d *domain) conn(index int) *sconn {
	// SYNC: acquire of the chunk and of the connection; pair with the
	// Stores in take and attach.
	if ch := d.chunks[index/64].conns.Load(); ch != nil {
		return ch[index%64].Load()
	}
	return nil
}

// take returns the lowest free slot index, installing its chunk (with the
// rest of its block) if it is the chunk's first use.
func (d *domain) take() (int, bool) {
	for w := range d.chunks {
		r := &d.chunks[w]
		if r.used == ^uint64(0) {
			continue
		}
		i := w*64 + bits.TrailingZeros64(^r.used)
		if i >= d.a.g.maxConns {
			return 0, false
		}
		r.used |= 1 << (i % 64)
		if r.conns.Load() == nil {
			d.install(w)
		}
		if int32(w+1) > d.words.Load() {
			// SYNC: release of the word count, after the chunk's; pairs
			// with the Load in sweep.
			d.words.Store(int32(w + 1))
		}
		return i, true
	}
	return 0, false
}

// chunkBlock is how many chunks install allocates at once: 4 KiB of them,
// one object of a size class above 512 bytes, where a small class would
// take a span of its own — two pages with its mark bits — on whichever P
// the housekeeping goroutine runs (the GC may be off, and the spans are
// never given back).
const chunkBlock = 8

// install allocates the chunks of words w… up to the next multiple of
// chunkBlock, and installs those not yet installed.
func (d *domain) install(w int) {
	lo := w / chunkBlock * chunkBlock
	blk := make([]connChunk, min(chunkBlock, len(d.chunks)-lo))
	for i := range blk {
		if r := &d.chunks[lo+i]; r.conns.Load() == nil {
			// SYNC: release of the chunk, before the pollers scan its
			// word; pairs with the Load in conn and sweep.
			r.conns.Store(&blk[i])
		}
	}
}

// release makes slot index free for take.
func (d *domain) release(index int) { d.chunks[index/64].used &^= 1 << (index % 64) }

// Connection states.
const (
	connHandshake = iota
	connActive
	connClosing
)

// sconn is the server's private state for one connection: 64 bytes (a
// 64-byte size class), one allocation at the accept. Its ring and doorbell
// bit are not stored: they follow from index and the domain's geometry
// (connRing, bellWord).
type sconn struct {
	// The poller's (serveConn).
	pos   uint64 // next call position: private, never read from the arena
	state atomic.Int32
	index int32   // slot in d's arena
	d     *domain // set at the attach
	// The epoll goroutine's.
	fd       int
	pid      int32
	uid, gid uint32
	queued   bool                    // in this round's list to free
	lone     bool                    // the poller's: the last request was quiet, nothing followed (serveConn)
	push     bool                    // it takes pushes: set before the attach (push.go)
	started  int64                   // unix ns of the accept, for the set-up timeout
	ext      atomic.Pointer[connExt] // made when it defers a call or is dropped (defer.go)
}

// reset puts c's ring back to its initial state and clears its
// doorbell bit: at attach, never while a poller looks at c. It writes only
// the sequence words on pages of the memfd that exist: the others read as
// zero, the initial state, and writing them would allocate pages for a
// connection that may stay idle. (The client process may write there at
// any time, as after the attach; the pollers check every word they read.)
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
	if c.push {
		c.resetPush()
	}
}

// clearBell clears c's doorbell bit.
func (c *sconn) clearBell() {
	_, bell, bit := c.ring()
	atomic.AndUint64(bell, ^bit)
}

// ring returns c's call ring and its doorbell word and bit. Cost: a few
// multiplies, no loads beyond c.d's arena. The geometry goes by pointer:
// passed by value, its 88 bytes were copied twice per call, and the
// copies' 16-byte loads of 8-byte stores stalled (perf: a quarter of
// ring's samples on one of them); BenchmarkServeConn/batch=1 80 → 72 ns
// per request on the Xeon host.
func (c *sconn) ring() (r callRing, bell *uint64, bit uint64) {
	a, i := c.d.a, int(c.index)
	return connRing(a.body, &a.g, i), bellWord(a.body, &a.g, i), 1 << (i % 64)
}

func (c *sconn) info() ConnInfo {
	i := ConnInfo{PID: c.pid, UID: c.uid, GID: c.gid, Index: int(c.index), Since: time.Unix(0, c.started), Peer: Peer{c}}
	if x := c.ext.Load(); x != nil {
		if why := x.why.Load(); why != nil {
			i.Reason = *why
		}
	}
	return i
}

// arena is the server's handle on one domain's segment.
type arena struct {
	seg  *layout.Segment
	g    arenaGeometry
	body []byte
	open *atomic.Int64 // the server's count of open arenas
}

// close unmaps and closes a server's arena.
func (a *arena) close() {
	a.seg.Close()
	a.open.Add(-1)
}

// newArena makes an arena segment. Every arena of a server has the same
// geometry, fingerprint and epoch, so their headers are byte for byte the
// same (Server.hdr keeps a copy to rewrite them with).
func newArena(g arenaGeometry, fingerprint, epoch uint64) (*arena, error) {
	seg, err := layout.Create(g.length, layout.Options{Fingerprint: fingerprint, Epoch: epoch, Sparse: true})
	if err != nil {
		return nil, err
	}
	a := &arena{seg: seg, g: g, body: seg.Body()}
	le := binary.LittleEndian
	b := a.body
	le.PutUint32(b[arenaVersionOffset:], arenaVersion)
	le.PutUint32(b[arenaMaxConnsOffset:], uint32(g.maxConns))
	le.PutUint32(b[arenaDepthOffset:], uint32(g.depth))
	le.PutUint32(b[arenaStrideOffset:], uint32(g.stride))
	le.PutUint64(b[arenaStepOffset:], uint64(g.step))
	le.PutUint64(b[arenaBellOffOffset:], uint64(g.bellOff))
	le.PutUint64(b[arenaSlotsOffOffset:], uint64(g.slotsOff))
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
