package topic

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/spinwire/spinwire/asm"
	"github.com/spinwire/spinwire/internal/msg"
	"github.com/spinwire/spinwire/layout"
	"golang.org/x/sys/unix"
)

// Housekeeping periods of a publisher's tracker.
const (
	livenessEvery = time.Millisecond      // a dead subscriber process is let go within this
	scanEvery     = 10 * time.Millisecond // a new subscriber process is seen within this
)

// tracker is a publisher's view of its subscribers: the subscriber
// segments of every process subscribed to the topic, mapped read-only, and
// the tokens it evicted. The process's housekeeping goroutine (keeper.go)
// finds new segments and drops those whose process died; the publishing
// goroutine reads positions only when a reliable topic looks full
// (slowest).
type tracker struct {
	name, dir string
	epoch     uint64
	pub       []byte // the topic segment, for the eviction table
	opts      Options

	capacity uint64

	mu       sync.RWMutex
	segs     map[string]*layout.Segment // by name in dir, or "fd:DEV.INO" when a socket brought it (share.go)
	named    map[string]*namedSeg       // the segments in segs that scan mapped by name (named.go)
	asked    []string                   // the keys in named without a pidfd, in the order mapped
	watched  []string                   // the keys in named with one, in the order mapped
	deaths   int                        // epoll set of named's pidfds, -1 until the first
	pidKey   map[int]string             // each pidfd's key in named
	pidEvs   [64]unix.EpollEvent        // exited's buffer
	noPidfd  bool                       // tests: as where pidfd_open fails
	conns    map[string][]int           // the connections that brought a segment, by its key
	nconns   int                        // in conns, all keys
	kept     map[int]keptConn           // each connection's key in conns, and peer (share_kept.go)
	segBy    map[string]peer            // who brought each segment in segs that a socket brought
	use      map[uint32]*shareUse       // what each uid's connections brought, kept
	procSegs map[peer]int               // the segments each process brought, kept
	stalls   map[uint32]*uidStalls      // stall evictions of the uids whose segments a socket brought (share_stall.go)
	nRefused atomic.Uint64              // connections to the share socket not kept (PublisherStats.Refused)
	ep       int                        // epoll set of the connections (watch), -1 until the first
	evs      [64]unix.EpollEvent        // hungUp's buffer
	full     bool                       // maxSubSegs reached (logged once)

	logMu   sync.Mutex
	peerLog msg.Budget // lines peers cause (peerLogf)

	evMu    sync.Mutex
	evicted map[uint64]uint64 // token → nEvict when it was evicted (pruneEvicted)
	nEvict  uint64
	held    map[uint64]bool // pruneEvicted's set of the tokens in cells, reused
	anyEv   atomic.Bool     // evicted is not empty: positions looks tokens up only then

	at     []uint64 // positions' result, reused: the publishing goroutine's
	atKeys []string // the keys of at's cells' segments, in order

	// where dropDead's next look at asked and at watched starts, and its
	// looks: under lookMu
	looked, lookedW int
	looks           uint64

	scanMu  sync.Mutex          // one scan at a time: a look's, or a test's
	dirents *dirReader          // under scanMu, as the rest of this block
	prefix  []byte              // NAME~s, which starts the names of subscriber segments
	refused map[string]*refusal // names scan will not open again (scan.go)
	cycle   uint64              // scan's passes over the whole directory
	retry   bool                // this pass left a name to try again (scan.go)
	pass    quiet               // the directory when this pass began
	quiet   quiet               // when the last pass that left nothing to retry began (ok: there was one)
	opened  int                 // Opens scan tried, for tests
	listed  int                 // scans that listed the directory, for tests

	// the publishing goroutine's stall clock: the position that blocks it
	// (^0: none) and since when
	blockedAt    uint64
	blockedSince time.Time
	// the cell that held blockedAt at the last look (watchKey, its
	// segment's key in segs), and the blocked looks since the last scan
	watchKey   string
	watchSeg   *layout.Segment
	watchCell  int
	watchTok   uint64
	watchLooks uint32

	lookMu sync.Mutex // held by a look: close takes it to wait one out
	lookN  int        // looks so far, under lookMu
	closed bool       // under lookMu

	// bell: the topic's (wait.go), held while a subscriber without the
	// handshake was seen parked in the last wakeSticky; lastParked, the
	// looks': when; parks, the cells' count of parks at the last look.
	bell       *uint32
	lastParked time.Time
	parks      uint64
}

func newTracker(name string, epoch uint64, pub []byte, bell *uint32, opts Options) *tracker {
	t := makeTracker(name, epoch, pub, opts)
	t.bell = bell
	t.scan()
	housekeeping.add(t)
	return t
}

// makeTracker is newTracker without the first scan and the looks.
func makeTracker(name string, epoch uint64, pub []byte, opts Options) *tracker {
	return &tracker{name: name, dir: opts.Dir, epoch: epoch, pub: pub, opts: opts, capacity: uint64(opts.Capacity),
		segs: map[string]*layout.Segment{}, conns: map[string][]int{}, kept: map[int]keptConn{}, ep: -1,
		segBy: map[string]peer{}, use: map[uint32]*shareUse{}, procSegs: map[peer]int{}, stalls: map[uint32]*uidStalls{},
		named: map[string]*namedSeg{}, deaths: -1, pidKey: map[int]string{},
		evicted: map[uint64]uint64{}, held: map[uint64]bool{}, peerLog: msg.Budget{Burst: 10},
		blockedAt: ^uint64(0), dirents: newDirReader(opts.Dir), prefix: []byte(name + "~s"), refused: map[string]*refusal{},
		bell: new(uint32)}
}

// lookOnce is the housekeeping goroutine's next look at t, unless t is
// closed.
func (t *tracker) lookOnce() {
	t.lookMu.Lock()
	defer t.lookMu.Unlock()
	if !t.closed {
		t.lookN++
		t.look(t.lookN)
	}
}

// look is the tracker's i-th round of housekeeping (one a millisecond). At
// rest it allocates nothing (TestTrackerAllocs).
func (t *tracker) look(i int) {
	t.dropDead()
	if i%int(scanEvery/livenessEvery) == 0 {
		t.scan()
		t.pruneEvicted()
	}
	if now := time.Now(); t.parkedSeen() {
		t.lastParked = now
		atomic.StoreUint32(t.bell, bellHeld)
	} else if now.Sub(t.lastParked) > wakeSticky {
		// A subscriber's ring stays: its publish clears it.
		atomic.CompareAndSwapUint32(t.bell, bellHeld, 0)
	}
}

// dropDead lets go of the segments linked by name whose process has died
// (its pidfd in deaths is readable) or whose name leads nowhere (the link
// to the owner's descriptor: it died, or closed the descriptor without
// removing the name, as exec does), and of the connections that have hung
// up (share.go) and the segments they brought once all of a segment's
// have. It takes the write lock only when there is something to drop.
// Each look asks after livenessLooks of the names of segments without a
// pidfd at most, and one look in watchedEvery after one of the others, in
// turn. Cost at rest: two epoll_waits.
func (t *tracker) dropDead() {
	t.mu.RLock()
	dead := t.askAfter(nil, t.asked, &t.looked, livenessLooks)
	if t.looks++; t.looks%watchedEvery == 0 {
		dead = t.askAfter(dead, t.watched, &t.lookedW, 1)
	}
	ep, deaths := t.ep, t.deaths
	t.mu.RUnlock()
	// Without the lock: a look costs a system call a set.
	hung, exited := t.hungUp(ep), t.exited(deaths)
	if len(dead) == 0 && len(hung) == 0 && len(exited) == 0 {
		return
	}
	t.mu.Lock()
	t.dropClosed(hung)
	for _, ev := range exited {
		if n, ok := t.pidKey[int(ev.Fd)]; ok {
			t.dropNamed(n)
		}
	}
	for _, n := range dead {
		t.dropNamed(n)
	}
	t.full = false
	t.mu.Unlock()
}

// askAfter appends to dead those of the next m keys in turn (from *at)
// whose name leads nowhere, and moves *at on. Under t.mu.
func (t *tracker) askAfter(dead, keys []string, at *int, m int) []string {
	k := len(keys)
	if k == 0 {
		return dead
	}
	m = min(k, m)
	for i := range m {
		if n := keys[(*at+i)%k]; gone(t.named[n].path) {
			dead = append(dead, n)
		}
	}
	*at = (*at + m) % k
	return dead
}

// watchedEvery: one look in so many asks after the name of one segment
// whose process has a pidfd (a faccessat through /proc, 0.85 µs): it
// found a process that closed its descriptor and lives on (exec), which
// the pidfd does not tell. Every look, that was the most of a hundred idle
// publishers' housekeeping.
const watchedEvery = 16

// livenessLooks bounds the segments linked by name without a pidfd that a
// look of dropDead asks after (a stat of a link through /proc, 1.7–3 µs
// here): a look at 1024 segments took 1.7 ms statting them all, 0.2 ms
// statting 64 (docs/benchmarks.md, "The tracker's housekeeping"). Such a
// dead process is let go within a millisecond while there are at most
// livenessLooks of them, within len/livenessLooks milliseconds beyond.
const livenessLooks = 64

// maxSubSegs bounds the subscriber segments a publisher maps (64
// subscribers each): a process that links thousands cannot make it map
// without end.
const maxSubSegs = 1024

// unlinkDangling removes path if it is a link leading nowhere: the name of
// a subscriber segment whose process died.
func unlinkDangling(path string) {
	var st unix.Stat_t
	if unix.Lstat(path, &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFLNK && unix.Stat(path, &st) == unix.ENOENT {
		unix.Unlink(path)
	}
}

// slowest returns the smallest position of the live subscribers that follow
// this epoch (tail if none), evicting those whose position no honest
// subscriber writes. The publisher needs room for k more messages: once
// the same slowest position has kept it from them for StallTimeout, the
// subscribers there are evicted.
func (t *tracker) slowest(tail, k uint64) uint64 {
	if t.blockedAt != ^uint64(0) && tail+k-t.blockedAt > t.capacity {
		if t.watchLooks++; t.watchLooks%scanLooks != 0 && t.stillAt(t.blockedAt) {
			return t.blockedAt
		}
	}
	min, at := t.positions(tail)
	if tail+k-min <= t.capacity {
		t.blockedAt = ^uint64(0)
		return min
	}
	now := time.Now()
	if min != t.blockedAt {
		t.blockedAt, t.blockedSince = min, now
		return min
	}
	if now.Sub(t.blockedSince) > t.opts.StallTimeout {
		for _, tok := range at {
			t.evict(tok, "stalled past StallTimeout")
		}
		t.stalledBy(t.atKeys, now)
		t.blockedAt = ^uint64(0)
		min, _ = t.positions(tail)
	}
	return min
}

// positions reads every active cell of this epoch: the smallest position
// and the tokens of the cells there.
func (t *tracker) positions(tail uint64) (uint64, []uint64) {
	slowest, oldest := tail, tail-min(tail, t.capacity)
	at, keys := t.at[:0], t.atKeys[:0]
	t.watchSeg = nil
	t.activeCells(func(key string, b []byte, c int) bool {
		tok, pos := load(b, c+cellToken), load(b, c+cellPos)
		switch {
		case t.anyEv.Load() && t.isEvicted(tok):
		case pos > tail:
			t.evict(tok, "position beyond the tail")
		default:
			// A position behind the oldest message kept is a joiner's
			// first, read before the joiner moved it on (join), or a
			// faulty subscriber's: it holds the publisher as one at the
			// oldest would, until it moves or StallTimeout evicts it.
			pos = max(pos, oldest)
			if pos < slowest {
				slowest, at, keys = pos, append(at[:0], tok), append(keys[:0], key)
				t.watchKey, t.watchSeg, t.watchCell, t.watchTok = key, t.segs[key], c, tok // under activeCells' lock
			} else if pos == slowest {
				at, keys = append(at, tok), append(keys, key)
			}
		}
		return true
	})
	t.at, t.atKeys = at, keys
	return slowest, at
}

// activeCells calls fn with the key in segs, body and offset of every
// active cell of this epoch, under the read lock, until fn returns false.
func (t *tracker) activeCells(fn func(key string, b []byte, c int) bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	for key, seg := range t.segs {
		b := seg.Body()
		for i := range subCells {
			c := subHeader + i*cellLength
			if t.current(b, c) && !fn(key, b, c) {
				return
			}
		}
	}
}

func (t *tracker) isEvicted(tok uint64) bool {
	t.evMu.Lock()
	defer t.evMu.Unlock()
	_, ok := t.evicted[tok]
	return ok
}

// pruneEvicted forgets the evicted tokens that no active cell of this
// epoch holds any more — the subscriber closed, or a hostile one moved on
// to another token — so that the table stays as large as the cells
// however many evictions there were. A token evicted since the cells were
// read stays (its cell may have come after). A look's,
// every scan while there are any: a read of every active cell.
func (t *tracker) pruneEvicted() {
	t.evMu.Lock()
	n, since := len(t.evicted), t.nEvict
	t.evMu.Unlock()
	if n == 0 {
		return
	}
	clear(t.held)
	t.activeCells(func(_ string, b []byte, c int) bool {
		t.held[load(b, c+cellToken)] = true
		return true
	})
	t.evMu.Lock()
	defer t.evMu.Unlock()
	for tok, at := range t.evicted {
		if at < since && !t.held[tok] {
			delete(t.evicted, tok)
		}
	}
	t.anyEv.Store(len(t.evicted) > 0)
}

// evict records tok as evicted and tells its subscriber through the topic
// segment's eviction table (only the publishing goroutine evicts).
func (t *tracker) evict(tok uint64, why string) {
	t.evMu.Lock()
	defer t.evMu.Unlock()
	if _, ok := t.evicted[tok]; ok {
		return
	}
	t.evicted[tok] = t.nEvict
	t.anyEv.Store(true)
	store(t.pub, offEvicted+8*int(t.nEvict%evictSlots), tok)
	t.nEvict++
	// SYNC: release of the table entry; pairs with the subscriber's load.
	asm.StoreRelease64(word(t.pub, offEvictions), t.nEvict)
	t.peerLogf("topic %s: evicted subscriber %#x: %s", t.name, tok, why)
}

// peerLogf logs a line that a subscriber caused — an eviction, a refusal
// — within a budget: ten at once, then one a second, the next line
// saying how many were held back. A subscriber that has itself evicted or
// refused again and again does not flood the publisher's log. Safe from
// any goroutine.
func (t *tracker) peerLogf(format string, args ...any) {
	t.logMu.Lock()
	held, ok := t.peerLog.Take()
	t.logMu.Unlock()
	if !ok {
		return
	}
	if held > 0 {
		format += msg.HeldNote
		args = append(args, held)
	}
	t.opts.Logf(format, args...)
}

// counts returns the live subscribers of this epoch and the evictions.
func (t *tracker) counts() (int, uint64) {
	n := 0
	t.activeCells(func(_ string, b []byte, c int) bool {
		if !t.isEvicted(load(b, c+cellToken)) {
			n++
		}
		return true
	})
	return n, load(t.pub, offEvictions)
}

func (t *tracker) close() {
	housekeeping.remove(t)
	t.lookMu.Lock() // a look under way ends first
	t.closed = true
	t.lookMu.Unlock()
	t.mu.Lock()
	for n, s := range t.segs {
		s.Close()
		delete(t.segs, n)
	}
	for _, ns := range t.named {
		if ns.pidfd >= 0 {
			unix.Close(ns.pidfd)
		}
	}
	clear(t.named)
	clear(t.pidKey)
	t.asked, t.watched = nil, nil
	if t.deaths >= 0 {
		unix.Close(t.deaths)
		t.deaths = -1
	}
	for n, conns := range t.conns {
		for _, c := range conns {
			unix.Close(c)
		}
		delete(t.conns, n)
	}
	clear(t.kept)
	clear(t.segBy)
	clear(t.use)
	clear(t.procSegs)
	clear(t.stalls)
	if t.ep >= 0 {
		unix.Close(t.ep)
		t.ep = -1
	}
	t.mu.Unlock()
	t.scanMu.Lock() // not under mu: scan takes mu under scanMu
	t.dirents.close()
	t.scanMu.Unlock()
}

// scanLooks: a blocked reliable publisher reads every cell (and its stall
// clock) once in this many looks; the others read only the cell that
// blocked it (stillAt).
const scanLooks = 64

// stillAt reports whether the cell that held the slowest position at the
// last scan still holds pos, for the same subscriber: one cell's line read
// instead of every cell's, which the subscribers write as they go
// (BenchmarkFanout reliable).
func (t *tracker) stillAt(pos uint64) bool {
	t.mu.RLock()
	defer t.mu.RUnlock()
	if t.watchSeg == nil || t.segs[t.watchKey] != t.watchSeg {
		return false // unmapped since: its body is not to be read
	}
	b, c := t.watchSeg.Body(), t.watchCell
	return load(b, c+cellPos) == pos && load(b, c+cellToken) == t.watchTok && t.current(b, c)
}

// current reports whether the cell at offset c of body b is active and
// follows this epoch.
func (t *tracker) current(b []byte, c int) bool {
	return load32(b, c+cellState) == cellActive && load(b, c+cellEpoch) == t.epoch
}
