package topic

import (
	"errors"
	"io/fs"
	"math"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/spinwire/spinwire/asm"
	"github.com/spinwire/spinwire/internal/msg"
	"github.com/spinwire/spinwire/layout"
	"golang.org/x/sys/unix"
)

// Publisher is a topic's one writer. Its methods are for one goroutine
// (Stats excepted), Close included.
type Publisher[T any] struct {
	seg      *layout.Segment
	mem      []byte
	slots    unsafe.Pointer
	tailP    *uint64 // the header's tail word
	mask     uint64
	capacity uint64
	stride   uintptr
	words    int
	short    bool // the message is seqWriteMax bytes or less
	scratch  []uint64
	policy   Policy
	tail     uint64  // next position to publish
	claimed  uint64  // slots claimed from tail on (Claim)
	minCache uint64  // reliable: the slowest live subscriber's position, last seen, at most tail-reserve
	reserve  uint64  // reliable: the history kept for joiners (joinHistory)
	fence    uint64  // TryPublish's common case publishes positions below it (setFence)
	bell     *uint32 // nonzero: some subscriber may sleep on the tail (wait.go)
	bellSeg  *layout.Segment
	opts     Options
	subs     *tracker
	share    *sharer // Options.Policy's listener, or nil
	// statMu orders Stats, from any goroutine, before Close unmaps what
	// it reads; Close leaves the last counts in final.
	statMu sync.Mutex
	final  *PublisherStats
}

// Create makes the topic name and returns its publisher. Subscribers may
// come before or after. A name held by a live publisher gives ErrInUse; a
// dead publisher's is taken over, with a new epoch that its subscribers
// pick up by themselves.
func Create[T any](name string, opts Options) (*Publisher[T], error) {
	sc, err := layout.Of[T]()
	if err != nil {
		return nil, err
	}
	return createWith[T](name, opts, sc)
}

// createWith is Create for messages of schema sc: T's, or, for a raw
// publisher, any (T then has no size: raw.go).
func createWith[T any](name string, opts Options, sc *layout.Schema) (*Publisher[T], error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	if err := opts.fill(); err != nil {
		return nil, err
	}
	st := stride(sc.Size)
	text := sc.Encode()
	// The bell first, with the topic's epoch: a subscriber that finds the
	// topic finds its bell.
	epoch := uint64(time.Now().UnixNano())
	bell, err := layout.Create(bellLength, layout.Options{Name: name + bellSuffix, Dir: opts.Dir, Fingerprint: bellFPrint, Epoch: epoch})
	if errors.Is(err, fs.ErrExist) {
		return nil, msg.Errorf("%w: %s", ErrInUse, name)
	}
	if err != nil {
		return nil, err
	}
	// Its descriptor goes to other uids (share.go): no one may add a seal
	// to it (F_SEAL_FUTURE_WRITE would refuse later subscribers' mappings).
	if _, err := unix.FcntlInt(uintptr(bell.Fd()), unix.F_ADD_SEALS, unix.F_SEAL_SEAL); err != nil {
		bell.Close()
		return nil, msg.Errorf("topic: seal %s's bell: %w", name, err)
	}
	seg, err := layout.Create(topicLength(opts.Capacity, st, len(text)), layout.Options{Name: name, Dir: opts.Dir, Fingerprint: topicFPrint, Epoch: epoch})
	if err != nil {
		bell.Close()
		if errors.Is(err, fs.ErrExist) {
			return nil, msg.Errorf("%w: %s", ErrInUse, name)
		}
		return nil, err
	}
	p := &Publisher[T]{seg: seg, mem: seg.Body(), capacity: uint64(opts.Capacity), mask: uint64(opts.Capacity - 1),
		stride: uintptr(st), words: words(sc.Size), policy: opts.Policy, opts: opts,
		bellSeg: bell, bell: (*uint32)(unsafe.Pointer(&bell.Body()[0]))}
	p.scratch = make([]uint64, p.words)
	p.short = p.words*8 <= seqWriteMax
	p.slots = unsafe.Pointer(&p.mem[slotsOffset])
	p.tailP = word(p.mem, offTail)
	if p.policy == Reliable {
		p.reserve = joinHistory(uint64(opts.History), p.capacity)
	}
	p.format(sc, text, st)
	// Nobody may map the buffer writable from now on, this process's own
	// mapping excepted.
	if err := seg.SealWrites(); err != nil {
		seg.Close()
		bell.Close()
		return nil, msg.Errorf("topic: %s: %w", name, err)
	}
	p.subs = newTracker(name, seg.Header().Epoch, p.mem, p.bell, opts)
	p.setFence()
	if len(opts.Share.UIDs) > 0 || len(opts.Share.GIDs) > 0 {
		if p.share, err = shareTopic(name, seg.Fd(), bell.Fd(), opts.Share, p.subs); err != nil {
			p.subs.close()
			seg.Close()
			bell.Close()
			return nil, err
		}
	}
	return p, nil
}

// format writes the header, magic last.
func (p *Publisher[T]) format(sc *layout.Schema, text []byte, st int) {
	m := p.mem
	store32(m, offVersion, topicVersion)
	store32(m, offPolicy, uint32(p.policy))
	store(m, offCapacity, p.capacity)
	store32(m, offStride, uint32(st))
	store32(m, offMsgSize, uint32(sc.Size))
	store(m, offHistory, uint64(p.opts.History))
	store(m, offFPrint, sc.Fingerprint)
	off := slotsOffset + int(p.capacity)*st
	copy(m[off:], text)
	store(m, offSchemaOff, uint64(off))
	store32(m, offSchemaLen, uint32(len(text)))
	// SYNC: release of the header; Subscribe checks the magic first.
	store(m, offMagic, topicMagic)
}

// slot returns the slot of position pos.
func (p *Publisher[T]) slot(pos uint64) unsafe.Pointer {
	return unsafe.Add(p.slots, uintptr(pos&p.mask)*p.stride)
}

// room reports whether k more messages fit: always under Lossy; under
// Reliable when the slowest live subscriber is at most capacity-k behind
// (its position re-read only when the cached one says no).
//
// The cached position is also at most the tail less the reserve: a
// subscriber joining with History starts that far back (join), and the
// publisher must not have rewritten those slots on the strength of a look
// that missed it. So with History h, the publisher looks at its
// subscribers every capacity-h messages at least.
func (p *Publisher[T]) room(k uint64) bool {
	if p.policy == Lossy || p.tail+k-p.minCache <= p.capacity {
		return true
	}
	// SYNC: a sequentially consistent store of the tail (XCHG; STLR
	// before LDAR on arm64) before the cells are read: the store-load
	// pair of a joining subscriber's activate and its load of the tail.
	// Either this look sees the new cell, or the joiner sees this tail
	// and starts at or past the position returned here.
	atomic.StoreUint64(p.tailP, p.tail)
	p.minCache = min(p.subs.slowest(p.tail, k), p.tail-min(p.tail, p.reserve))
	p.setFence()
	return p.tail+k-p.minCache <= p.capacity
}

// joinHistory is how many published messages a new subscriber of a
// reliable topic is given first: the topic's History, at most
// capacity less an eighth (at least one slot). The publisher keeps that
// many behind its tail (room), so it reads the positions every eighth of
// the ring at least: with every message instead (History capacity-1),
// BenchmarkPublish/stream/reliable/history=1023 took 270–390 ns a
// message against 40–50 ns.
func joinHistory(history, capacity uint64) uint64 {
	return min(history, capacity-max(1, capacity/8))
}

// TryPublish copies *m into the next slot and publishes it; false when a
// reliable topic is full (or a claim is pending, or the publisher is
// closed). Cost: the copy and three stores (the slot's sequence
// withdrawn, then published, and the tail), no allocation.
//
// Its common case — room by the cached slowest position (fence), no
// latency stamp due, a message of up to seqWriteMax bytes — makes one
// call, asm.SeqWrite's (BenchmarkPublish); the rest is tryPublish.
func (p *Publisher[T]) TryPublish(m *T) bool {
	t := p.tail
	if t >= p.fence || t&(StampEvery-1) == 0 || unsafe.Sizeof(*m) == 0 {
		return p.tryPublish(m)
	}
	p.tail = t + 1
	// SYNC: the seqlock's withdrawal, message, publication, then the
	// tail's: release stores, paired with Subscriber.Poll's acquire loads
	// before and after its copy (and the tail's, as in advance).
	asm.SeqWrite((*uint64)(p.slot(t)), unsafe.Pointer(m), p.words, t+1, p.tailP)
	if atomic.LoadUint32(p.bell) != 0 {
		p.wakeWaiters()
	}
	return true
}

// tryPublish is TryPublish beyond its common case: room asked of the
// subscribers' cells, a stamp, a Raw message, a long one.
func (p *Publisher[T]) tryPublish(m *T) bool {
	if p.claimed != 0 || p.seg == nil ||
		(p.policy != Lossy && p.tail+1-p.minCache > p.capacity && !p.room(1)) {
		return false
	}
	if p.tail&(StampEvery-1) == 0 {
		p.stamp(p.tail)
	}
	p.tail++
	// SYNC: the stores of TryPublish, or of publishLong.
	if slot := p.slot(p.tail - 1); p.short {
		src := unsafe.Pointer(m)
		if unsafe.Sizeof(*m) == 0 { // Raw: the scratch words hold it
			src = unsafe.Pointer(unsafe.SliceData(p.scratch))
		}
		asm.SeqWrite((*uint64)(slot), src, p.words, p.tail, p.tailP)
	} else {
		p.publishLong(slot, m)
	}
	if atomic.LoadUint32(p.bell) != 0 {
		p.wakeWaiters()
	}
	return true
}

// setFence recomputes fence, the first position TryPublish's common case
// may not take: none while a claim is pending, after Close or for a long
// message; every one under Lossy; under Reliable, capacity past the
// slowest subscriber's position as last seen.
func (p *Publisher[T]) setFence() {
	switch {
	case p.claimed != 0 || p.seg == nil || !p.short:
		p.fence = 0
	case p.policy == Lossy:
		p.fence = math.MaxUint64
	default:
		p.fence = p.minCache + p.capacity
	}
}

// seqWriteMax is the longest message TryPublish writes with asm.SeqWrite,
// which moves 8 bytes at a time (asm's BenchmarkSeqWrite: it wins up to
// 128 bytes, loses from 256); a longer one is copied with runtime.memmove
// between two sequence stores (publishLong). One call instead of three
// assembly stores around a copy: BenchmarkPublish lossy/attached=0,
// 7.1 → 5.3 ns per message on the EPYC VM of docs/benchmarks.md ("One
// call per publish").
const seqWriteMax = 128

// publishLong is TryPublish's withdrawal, copy, publication and tail for
// a message longer than seqWriteMax bytes, each a release store.
func (p *Publisher[T]) publishLong(slot unsafe.Pointer, m *T) {
	seqStore((*uint64)(slot), 0)
	writeMsg(unsafe.Add(slot, seqLength), m, p.scratch)
	seqStore((*uint64)(slot), p.tail)
	asm.StoreRelease64(p.tailP, p.tail)
}

// Publish is TryPublish waiting through Options.Idler for room; under
// Reliable that wait is bounded by StallTimeout per stalled subscriber,
// which is then evicted. It returns ErrClosed after Close.
func (p *Publisher[T]) Publish(m *T) error {
	if p.claimed != 0 {
		return msg.Errorf("%w: Publish with a claim pending (Commit first)", ErrBadOption)
	}
	if p.TryPublish(m) {
		return nil // no wait: nothing for the idler to reset
	}
	for !p.TryPublish(m) {
		if p.seg == nil {
			return ErrClosed
		}
		p.opts.Idler.Idle(0)
	}
	p.opts.Idler.Reset()
	return nil
}

// Claim claims up to n consecutive slots for the caller to fill in place
// (Claimed), withdrawing them from readers, and returns how many (0 when
// a reliable topic is full). Commit publishes them.
func (p *Publisher[T]) Claim(n int) int {
	if p.seg == nil || n <= 0 || p.claimed != 0 {
		return int(p.claimed)
	}
	k := min(uint64(n), p.capacity)
	if !p.room(k) { // room refreshed the slowest position: take what fits
		k = p.capacity - min(p.capacity, p.tail-p.minCache)
	}
	for i := range k {
		// SYNC: the withdrawal, as in TryPublish.
		seqStore((*uint64)(p.slot(p.tail+i)), 0)
	}
	// SYNC: the withdrawals before the caller's plain stores into the
	// slots (Claimed): a release store does not keep later stores after
	// it on a weakly ordered CPU (nothing on amd64).
	asm.StoreFence()
	p.claimed = k
	p.setFence()
	return int(k)
}

// Claimed returns the i-th claimed slot's message, to write in place, or
// nil out of range. Zero-copy: the caller writes shared memory directly.
func (p *Publisher[T]) Claimed(i int) *T {
	if i < 0 || uint64(i) >= p.claimed {
		return nil
	}
	return (*T)(unsafe.Add(p.slot(p.tail+uint64(i)), seqLength))
}

// Commit publishes the claimed slots, in order; without a claim (or after
// Close) it does nothing.
func (p *Publisher[T]) Commit() {
	if p.claimed == 0 {
		return
	}
	if q := (p.tail + StampEvery - 1) &^ (StampEvery - 1); q < p.tail+p.claimed {
		p.stamp(q)
	}
	for i := range p.claimed {
		// SYNC: the publication, as in TryPublish.
		seqStore((*uint64)(p.slot(p.tail+i)), p.tail+i+1)
	}
	p.advance(p.claimed)
	p.claimed = 0
	p.setFence()
}

// advance moves the tail on by k and publishes it (for subscribers that
// join or were lapped), and wakes the subscribers waiting for it.
func (p *Publisher[T]) advance(k uint64) {
	p.tail += k
	// SYNC: release of the tail; pairs with Subscriber's acquire loads.
	asm.StoreRelease64(p.tailP, p.tail)
	p.wakeWaiters()
}

// PublisherStats are a publisher's counters.
type PublisherStats struct {
	Published   uint64 // messages published
	Subscribers int    // live subscribers attached now
	Evicted     uint64 // subscribers evicted
	// Refused counts the connections to the share socket (Options.Share)
	// not kept: refused by the policy, over a bound (busy, full, a uid
	// that stalled the topic), or sending what no subscriber sends.
	Refused uint64
}

// Stats returns the publisher's counters, or after Close the last ones
// (no subscribers). Safe from any goroutine, during Close too. Cost: a
// mutex and a read of every subscriber cell.
func (p *Publisher[T]) Stats() PublisherStats {
	p.statMu.Lock()
	defer p.statMu.Unlock()
	if p.final != nil {
		return *p.final
	}
	subs, ev := p.subs.counts()
	return PublisherStats{Published: load(p.mem, offTail), Subscribers: subs, Evicted: ev, Refused: p.subs.nRefused.Load()}
}

// Close stops the publisher and removes its name; subscribers see no more
// messages until a new publisher creates the name. A claim pending is
// dropped, unpublished.
func (p *Publisher[T]) Close() error {
	if p.seg == nil {
		return ErrClosed
	}
	p.claimed = 0
	p.statMu.Lock()
	p.final = &PublisherStats{Published: p.tail, Evicted: load(p.mem, offEvictions), Refused: p.subs.nRefused.Load()}
	p.statMu.Unlock()
	if p.share != nil {
		p.share.close() // no adoption after the tracker's close
	}
	p.subs.close()
	err := p.seg.Close()
	p.seg = nil
	p.bellSeg.Close()
	p.setFence()
	return err
}
