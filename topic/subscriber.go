package topic

import (
	"errors"
	"io/fs"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/spinwire/spinwire/internal/msg"
	"github.com/spinwire/spinwire/layout"
	"golang.org/x/sys/unix"
)

// Subscriber reads a topic. Its methods are for one goroutine.
type Subscriber[T any] struct {
	name, dir string
	opts      SubscribeOptions
	schema    *layout.Schema
	t         view // the topic segment as mapped now
	pos       uint64
	base      unsafe.Pointer // Acquire: the message of slot 0 (or the copy)
	mask      uint64         // Acquire: the slots' mask (0: a copy)
	step      uintptr        // Acquire: the slots' stride (0: a copy)
	held      int            // Acquire: messages held, from pos
	lost      uint64
	scratch   []uint64
	msg       T
	cell      *cell
	token     uint64
	evictSeen uint64
	evictGap  bool  // more evictions came between two looks than the table keeps (evicted)
	err       error // sticky: ErrEvicted, ErrCorrupt, ErrClosed
	idle      uint32
	lastCheck time.Time
	conn      int    // the publisher's socket, for a subscriber of another uid's topic (remote.go); -1: none
	where     []byte // what follow looks at: dir/name, or dir/name.sock (remote), NUL-terminated
	// statMu orders Stats, from any goroutine, before the unmapping of
	// what it reads: the view a follow replaces, and everything at Close,
	// which leaves the last counts in final.
	statMu sync.Mutex
	final  *SubscriberStats
}

// Subscribe joins topic name. The subscriber starts at the newest message,
// or up to the topic's History messages before it. With opts.Wait it waits
// that long for a publisher to appear; a publisher that restarts later is
// picked up by Poll (Epoch changes). A message type that differs from the
// publisher's gives a *layout.MismatchError naming the field.
func Subscribe[T any](name string, opts SubscribeOptions) (*Subscriber[T], error) {
	opts, err := subscribeOptions(name, opts)
	if err != nil {
		return nil, err
	}
	sc, err := layout.Of[T]()
	if err != nil {
		return nil, err
	}
	return subscribeWith[T](name, opts, sc)
}

// subscribeOptions checks name and fills opts.Dir (DefaultDir).
func subscribeOptions(name string, opts SubscribeOptions) (SubscribeOptions, error) {
	if err := checkName(name); err != nil {
		return opts, err
	}
	if opts.Dir == "" {
		d, err := DefaultDir()
		if err != nil {
			return opts, err
		}
		opts.Dir = d
	}
	return opts, nil
}

// subscribeWith is Subscribe (name checked, opts.Dir filled) for messages
// of schema sc: T's, or, for a raw subscriber, the topic's (raw.go).
func subscribeWith[T any](name string, opts SubscribeOptions, sc *layout.Schema) (*Subscriber[T], error) {
	var err error
	s := &Subscriber[T]{name: name, dir: opts.Dir, opts: opts, schema: sc, scratch: make([]uint64, words(sc.Size)), conn: -1}
	where := filepath.Join(opts.Dir, name)
	if remote(opts.Dir, name) {
		s.where = cPath(where + ".sock")
		if err := s.subscribeRemote(); err != nil {
			return nil, err
		}
		return s, nil
	}
	s.where = cPath(where)
	deadline := time.Now().Add(opts.Wait)
	for {
		s.t, err = openView(name, opts, sc)
		if err == nil || !errors.Is(err, ErrNoPublisher) || !time.Now().Before(deadline) {
			break
		}
		time.Sleep(time.Millisecond)
	}
	if err != nil {
		return nil, err
	}
	s.pos = s.t.start()
	state := uint32(cellActive)
	reliable := s.t.reliable
	if reliable {
		state = cellJoining
	}
	s.cell, s.token, err = newCell(s.dir, name, s.t.epoch, s.pos, state)
	if err != nil {
		s.t.close()
		return nil, err
	}
	if reliable {
		if err := s.join(); err != nil {
			s.cell.release()
			s.t.close()
			return nil, err
		}
	}
	s.evictSeen = load(s.t.mem, offEvictions)
	return s, nil
}

// joinWait bounds how long a reliable subscriber waits for its publisher
// to see it (two of its scans, every 10 ms).
const joinWait = 2 * time.Second

// join makes a reliable subscriber one its publisher waits for: once the
// publisher has mapped its cell's segment (two completed scans after a new
// segment was linked; a segment a join saw mapped already needs none), the
// cell is activated at a start position, and the start is then taken
// again from the tail the activation let it see. Any look at the cells
// the publisher made without this one was made at a tail no later than
// that, and left the publisher free to rewrite only positions below it
// less joinHistory (Publisher.room): so nothing from the start on is
// rewritten before the publisher has seen the cell. Nothing was read
// yet, so moving the start on loses nothing.
func (s *Subscriber[T]) join() error {
	if !s.cell.isKnown() {
		g0 := load(s.t.mem, offScanGen)
		for deadline := time.Now().Add(joinWait); load(s.t.mem, offScanGen) < g0+2; time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				return msg.Errorf("%w: %s: the publisher has not looked for subscribers in %v", ErrNoPublisher, s.name, joinWait)
			}
		}
		s.cell.setKnown()
	}
	s.cell.setPos(s.t.start())
	// SYNC: activate's XCHG, then start's load of the tail: the store-load
	// pair of Publisher.room's tail store and its loads of the cells.
	s.cell.activate()
	s.pos = s.t.start()
	s.cell.setPos(s.pos)
	return nil
}

// Poll calls fn with each message ready, up to limit (≤ 0: the topic's
// capacity), in order, and returns how many. The pointer is to the
// subscriber's own copy, valid until fn returns. A lapped subscriber
// (Lossy) skips to an eighth of the capacity past the oldest message it
// can tell is still held — the oldest are the slots the publisher
// rewrites next (resumeSkip, lapped) — and counts every message skipped
// in Lost. Cost per message: two acquire loads, a copy and the call of fn
// (about 4 ns on one thread, BenchmarkPollLocal); one release store of
// the position per call that found any, and one every posEvery messages
// of a long call. Polling several subscriptions of one topic in turn, a
// limit that keeps a turn's messages in the L1 cache (a few hundred
// 64-byte slots) lets the others read what the first brought in. The
// error is ErrEvicted once the publisher let this subscriber go.
func (s *Subscriber[T]) Poll(fn func(*T), limit int) (int, error) {
	return s.poll(fn, limit, false)
}

// PollInPlace is Poll without the copy on a reliable topic: fn gets a
// pointer into the topic's shared memory, which the publisher does not
// rewrite before fn returns (the subscriber's position moves past the
// message only then). The memory is mapped read-only: writing through the
// pointer crashes the process, and it is not to be kept after fn returns
// or used after fn closes the Subscriber. On a lossy topic, where a slot
// may be rewritten at any time, it copies as Poll does. A message in
// StampEvery (the latency stamp) is copied too. Eight reliable
// subscriptions on one thread: BenchmarkPollLocal/inplace.
func (s *Subscriber[T]) PollInPlace(fn func(*T), limit int) (int, error) {
	return s.poll(fn, limit, true)
}

// poll is Poll, reading in place when inPlace and the topic is reliable.
func (s *Subscriber[T]) poll(fn func(*T), limit int, inPlace bool) (int, error) {
	if s.held != 0 {
		s.Release(s.held) // what Acquire took
	}
	if s.err != nil {
		return 0, s.err
	}
	if ev := load(s.t.mem, offEvictions); ev != s.evictSeen && s.evicted(ev) {
		return 0, s.err
	}
	limit = s.capped(limit)
	n := 0
	for tries := 0; n < limit && tries < 2*limit && s.err == nil; tries++ {
		k, waiting := s.run(fn, limit-n, inPlace)
		if n += k; n >= limit || s.err != nil || waiting {
			break
		}
		got, again := s.next() // what run leaves: laps, stamps, the rest
		if got {
			if n++; n&(posEvery-1) == 0 {
				s.cell.setPos(s.pos) // a reliable publisher waits on it
			}
			fn(&s.msg)
		} else if !again {
			break
		}
	}
	switch {
	case s.err == ErrClosed:
		// fn closed the Subscriber: its cell is free, perhaps unmapped or
		// another Subscriber's already — not ours to write.
	case n > 0:
		s.cell.setPos(s.pos)
		s.idle = 0
	default:
		s.housekeep()
	}
	return n, s.err
}

// run is next's common case as a loop of its own: it hands fn up to limit
// messages that are there, and still there after their copy, in order,
// and returns how many, and waiting when it stopped at a slot that still
// holds an earlier lap's message — the next one is not written yet, and
// next would say no more. It stops at anything else (torn by a lap, being
// written, a stamped message) for next to look at. It stores the position
// at every multiple of posEvery it passes. The view's fields are read
// once: only housekeep changes the view, and fn closing the Subscriber
// stops the loop (BenchmarkPollLocal, BenchmarkFanout). Across fn it
// carries the position and where to stop, not a count, a limit and what
// Poll handed out before: fewer values to reload after each call
// (BenchmarkPollLocal/subs=8 28.2 → 26.8 ns; pingpong fanout, 8 reliable,
// ring p50 90 ns: 39.9–41.8 → 41.5–44.1 M msg/s). inPlace (PollInPlace,
// on a reliable topic) hands fn the slot itself, with no copy and no
// second load.
func (s *Subscriber[T]) run(fn func(*T), limit int, inPlace bool) (n int, waiting bool) {
	slots, mask, stride := s.t.slots, s.t.mask, s.t.stride
	inPlace = inPlace && s.t.reliable && unsafe.Sizeof(s.msg) != 0
	start := s.pos
	pos, end := start, start+uint64(limit)
	for pos != end {
		slot := unsafe.Add(slots, uintptr(pos&mask)*stride)
		// SYNC: the seqlock's loads, as in next.
		if seq := atomic.LoadUint64((*uint64)(slot)); seq != pos+1 || pos&(StampEvery-1) == 0 {
			waiting = seq != 0 && seq < pos+1
			break
		}
		m := (*T)(unsafe.Add(slot, seqLength))
		if !inPlace {
			readMsg(&s.msg, s.scratch, unsafe.Add(slot, seqLength))
			if atomic.LoadUint64((*uint64)(slot)) != pos+1 {
				break
			}
			m = &s.msg
		}
		pos++
		s.pos = pos
		// SYNC: in place, the slot is not rewritten before the position
		// stored after fn (or at the end of Poll) moves past it.
		if fn(m); s.err != nil {
			break // closed by fn
		}
		if pos&(posEvery-1) == 0 {
			s.cell.setPos(pos) // a reliable publisher waits on it
		}
	}
	return int(pos - start), waiting
}

// posEvery is how many messages a long Poll takes between two stores of
// the position, besides the one at its end: a reliable publisher with a
// full topic goes on as soon as it sees one, instead of waiting for the
// whole batch (BenchmarkFanout/reliable).
const posEvery = 64

// TryReceive copies the next message into *m, if one is ready.
func (s *Subscriber[T]) TryReceive(m *T) bool {
	n, _ := s.Poll(func(v *T) { *m = *v }, 1)
	return n == 1
}

// next takes the message at s.pos into s.msg (got). Otherwise again says
// whether the publisher lapped the subscriber, which moved on to the
// oldest message kept (resumeSkip) and may try again at once.
func (s *Subscriber[T]) next() (got, again bool) {
	pos := s.pos
	slot := s.t.slot(pos)
	seqp := (*uint64)(slot)
	// SYNC: acquire of the slot; pairs with the publisher's release.
	if seq := atomic.LoadUint64(seqp); seq != pos+1 {
		// An earlier lap's message: pos is not written yet, and no lap is
		// possible — lapped would say so after loading the tail, a line
		// the publisher writes at every publish (BenchmarkFanout).
		if seq != 0 && seq < pos+1 {
			return false, false
		}
		return false, s.lapped(pos)
	}
	readMsg(&s.msg, s.scratch, unsafe.Add(slot, seqLength))
	// SYNC: the seqlock's re-check: the copy is good only if the slot
	// still holds the message of pos.
	if atomic.LoadUint64(seqp) != pos+1 {
		return false, s.lapped(pos)
	}
	s.pos = pos + 1
	if pos&(StampEvery-1) == 0 && s.opts.Latency != nil {
		s.sample(pos)
	}
	return true, false
}

// resumeSkip is how far past the oldest message kept a lapped subscriber
// resumes: an eighth of the capacity, at least one. The oldest is the
// slot the publisher rewrites next, and the ones after it follow at the
// publisher's pace: a subscriber that resumed there was lapped again at
// once, and each lap loaded the tail, a line the publisher writes at every
// publish, so the two fought over the same lines. pingpong -mode fanout
// -subs 8 -policy lossy on the EPYC VM of docs/benchmarks.md, slow state:
// the publisher 17-20 -> 28-29 M msg/s, 25-120 M -> 13-16 M lost.
func resumeSkip(capacity uint64) uint64 { return max(1, capacity/8) }

// lapped reports whether next may try again at once: the slot of pos
// holds its message after all (the publisher wrote it between the two
// loads), or the message is gone — the tail is a capacity or more ahead
// and the slot holds, or is being rewritten with, a later one — and then
// it counts the loss and moves resumeSkip past the oldest message kept. A
// tail behind pos (a restarted publisher, or a hostile one) is not a lap:
// housekeep looks at the publisher.
//
// When the slot holds a later lap's message (Lossy), its sequence is the
// tail as far as the subscriber needs it: the publisher has got at least
// that far, and the tail itself, a line the publisher stores at every
// publish, is not loaded. The subscriber may land short of the true
// oldest and be lapped again, each time from a later slot's sequence:
// pingpong -mode fanout -policy lossy, slow state, 64 subscriptions in one
// process 25.2–26.2 → 27.3–28.8 M msg/s, 256 in four 23.2–24.6 →
// 26.2–26.7 M msg/s.
func (s *Subscriber[T]) lapped(pos uint64) bool {
	// SYNC: acquire of the slot; when the tail is loaded, of the tail and
	// then the slot again: pairs with the publisher's releases (the tail
	// is stored after the slot's sequence).
	seq := atomic.LoadUint64((*uint64)(s.t.slot(pos)))
	var t uint64
	if seq > pos+1 && seq-1-pos >= s.t.capacity && !s.t.reliable {
		t = seq
	} else {
		t = load(s.t.mem, offTail)
		seq = atomic.LoadUint64((*uint64)(s.t.slot(pos)))
	}
	switch {
	case t <= pos:
		return false
	case seq == pos+1:
		return true
	case t-pos < s.t.capacity || (seq != 0 && seq < pos+1):
		return false // not overwritten, or a value no publisher writes: wait
	}
	// A reliable publisher laps only a subscriber it evicted (it records
	// the eviction before it goes on): say so instead of skipping — also
	// when the token is not in the table but notices were lost to its
	// wrap since this publisher was followed (an honest one never laps a
	// subscriber it has not evicted).
	if s.t.reliable && (s.evicted(load(s.t.mem, offEvictions)) || s.evictGap) {
		s.err = ErrEvicted
		return false
	}
	oldest := t - s.t.capacity + resumeSkip(s.t.capacity)
	s.lost += oldest - pos
	s.cell.setLost(s.lost)
	s.pos, s.held = oldest, 0
	return true
}

// capped is a Poll or Acquire limit: at most the capacity, which a limit
// ≤ 0 means.
func (s *Subscriber[T]) capped(limit int) int {
	if limit <= 0 || uint64(limit) > s.t.capacity {
		return int(s.t.capacity)
	}
	return limit
}

// evicted looks for this subscriber's token among the evictions since
// the last look (the table keeps the last evictSlots), ev the count now,
// and reports whether the subscriber has stopped (Err). Out of line: the
// rare case of Poll's and Acquire's first look (BenchmarkAcquireOne).
//
//go:noinline
func (s *Subscriber[T]) evicted(ev uint64) bool {
	from := s.evictSeen
	if ev < from || ev-from > evictSlots {
		from = ev - min(ev, evictSlots)
		s.evictGap = true // this subscriber's own notice may be among those lost
	}
	for i := from; i < ev; i++ {
		if load(s.t.mem, offEvicted+8*int(i%evictSlots)) == s.token {
			s.err = ErrEvicted
		}
	}
	s.evictSeen = ev
	return s.err != nil
}

// housekeep, about once a millisecond while nothing arrives, looks at the
// topic's name: a new publisher there (another inode) is followed from its
// start; none there leaves this one mapped, waiting.
func (s *Subscriber[T]) housekeep() {
	if s.idle++; s.idle&0xff != 0 {
		return
	}
	now := time.Now()
	if now.Sub(s.lastCheck) < time.Millisecond {
		return
	}
	s.lastCheck = now
	s.follow()
}

// follow switches to a new publisher of the name, if there is one. Cost
// when there is none: a statx, nothing allocated.
func (s *Subscriber[T]) follow() {
	if ino, ok := statIno(s.where); !ok || ino == s.t.ino {
		return
	}
	// What the old publisher published before it went comes first: a
	// message it made ready since Poll last looked is read before the new
	// publisher is (one not ready — torn by its death, or never written —
	// does not hold the switch up).
	// SYNC: acquire of the slot, as in next.
	if atomic.LoadUint64((*uint64)(s.t.slot(s.pos))) == s.pos+1 {
		return
	}
	var v view
	var err error
	if s.conn >= 0 {
		var conn int
		if v, conn, err = exchange(s.dir, s.name, s.cell.s, s.schema, s.opts); err == nil {
			unix.Close(s.conn)
			s.conn = conn
		}
	} else {
		v, err = openView(s.name, s.opts, s.schema)
	}
	if err != nil {
		return // not ready yet, or not a topic: looked at again later
	}
	s.statMu.Lock()
	old := s.t
	s.t = v
	s.statMu.Unlock()
	old.close()
	s.held, s.evictGap = 0, false
	s.evictSeen = load(v.mem, offEvictions)
	s.cell.follow(v.epoch, v.start())
	// SYNC: follow's epoch store, then start's load of the tail: the new
	// publisher sees the cell or the start is taken past its look, as in
	// join.
	s.pos = v.start()
	s.cell.setPos(s.pos)
}

// Lost returns how many messages this subscriber missed because the
// publisher lapped it (Lossy).
func (s *Subscriber[T]) Lost() uint64 { return s.lost }

// SubscriberStats are a subscriber's counters as its cell says:
// readable from any goroutine (package stat samples them).
type SubscriberStats struct {
	Received uint64 // its position: messages read or skipped, since the publisher started
	Lost     uint64 // messages lost to laps
	Lag      uint64 // published and not read yet
}

// Stats returns the subscriber's counters from shared memory, or after
// Close the last ones it had. Safe from any goroutine, during Close too.
// Cost: a mutex and three loads.
func (s *Subscriber[T]) Stats() SubscriberStats {
	s.statMu.Lock()
	defer s.statMu.Unlock()
	if s.final != nil {
		return *s.final
	}
	return s.stats()
}

// stats reads the counters from shared memory. Under statMu, before Close.
func (s *Subscriber[T]) stats() SubscriberStats {
	pos := load(s.cell.s.mem, s.cell.off+cellPos)
	st := SubscriberStats{Received: pos, Lost: load(s.cell.s.mem, s.cell.off+cellLost)}
	// SYNC: acquire of the tail; pairs with the publisher's release.
	if t := atomic.LoadUint64(word(s.t.mem, offTail)); t > pos {
		st.Lag = t - pos
	}
	return st
}

// Lag returns how many published messages this subscriber has not read
// (after Close, as Stats says).
func (s *Subscriber[T]) Lag() uint64 {
	if s.err == ErrClosed {
		return s.Stats().Lag
	}
	t, pos := load(s.t.mem, offTail), s.Position()
	if t < pos {
		return 0
	}
	return t - pos
}

// Epoch identifies the publisher followed now; it changes when a
// restarted publisher is picked up.
func (s *Subscriber[T]) Epoch() uint64 { return s.t.epoch }

// Policy returns the policy of the publisher followed now: whether
// Acquire reads in place (Reliable) or copies (Lossy).
func (s *Subscriber[T]) Policy() Policy {
	if s.t.reliable {
		return Reliable
	}
	return Lossy
}

// Position returns the sequence of the next message this subscriber
// reads: past those Acquire took, which its cell counts only once they are
// given back.
func (s *Subscriber[T]) Position() uint64 { return s.pos + uint64(s.held) }

// Ready reports whether Poll would find a message now (for spin loops and
// idlers): one acquire load.
func (s *Subscriber[T]) Ready() bool {
	pos := s.Position()
	return s.err == nil && atomic.LoadUint64((*uint64)(s.t.slot(pos))) == pos+1
}

// Close leaves the topic: the cell is freed, and a reliable publisher
// stops waiting for it.
func (s *Subscriber[T]) Close() error {
	if s.err == ErrClosed {
		return ErrClosed
	}
	s.held = 0 // At has nothing to point at
	s.statMu.Lock()
	st := s.stats()
	s.final = &st
	s.statMu.Unlock()
	s.cell.release()
	s.t.close()
	if s.conn >= 0 {
		unix.Close(s.conn)
	}
	s.err = ErrClosed
	return nil
}

// view is a topic segment as a subscriber maps it: read-only, its header
// checked once.
type view struct {
	seg      *layout.Segment
	mem      []byte
	slots    unsafe.Pointer
	capacity uint64
	mask     uint64
	stride   uintptr
	history  uint64
	epoch    uint64
	ino      uint64
	reliable bool
	bell     *uint32 // the publisher's bell (wait.go), or nil: none, or not its
	bellSeg  *layout.Segment
}

func (v *view) slot(pos uint64) unsafe.Pointer {
	return unsafe.Add(v.slots, uintptr(pos&v.mask)*v.stride)
}

// start returns where a new subscriber begins: the tail, less the history
// (on a reliable topic, joinHistory's).
func (v *view) start() uint64 {
	h := v.history
	if v.reliable {
		h = joinHistory(h, v.capacity)
	}
	t := load(v.mem, offTail)
	return t - min(t, h)
}

func (v *view) close() {
	v.seg.Close()
	if v.bellSeg != nil {
		v.bellSeg.Close()
	}
}

// openView maps topic name read-only and checks its header against the
// message schema sc. No publisher: ErrNoPublisher.
func openView(name string, opts SubscribeOptions, sc *layout.Schema) (view, error) {
	seg, err := layout.Open(layout.Options{Name: name, Dir: opts.Dir, ReadOnly: true, Fingerprint: topicFPrint, MaxLength: opts.MaxLength})
	if errors.Is(err, fs.ErrNotExist) {
		return view{}, msg.Errorf("%w: %s in %s", ErrNoPublisher, name, opts.Dir)
	}
	if err != nil {
		return view{}, err
	}
	v, err := checkView(seg.Body(), sc)
	if err != nil {
		seg.Close()
		return view{}, err
	}
	var st unix.Stat_t
	unix.Fstat(seg.Fd(), &st)
	v.seg, v.epoch, v.ino = seg, seg.Header().Epoch, st.Ino
	v.openBell(name, opts)
	return v, nil
}

// openBell maps the publisher's bell (wait.go) writable, if there is one
// of the topic's epoch: a publisher of an earlier version has none, and a
// bell is hostile input like the topic (anyone who may write the
// directory may ring it, at worst a wake-up for each publish).
func (v *view) openBell(name string, opts SubscribeOptions) {
	seg, err := layout.Open(layout.Options{Name: name + bellSuffix, Dir: opts.Dir, Fingerprint: bellFPrint,
		MaxLength: 1 << 16, ReadyWait: -1})
	if err == nil {
		v.adoptBell(seg)
	}
}

// adoptBell takes the bell seg, opened writable by name or through the
// share socket, if it is the topic's (its epoch) and at least bellLength:
// else it closes it, and the subscriber waits without one.
func (v *view) adoptBell(seg *layout.Segment) {
	if seg.Header().Epoch != v.epoch || len(seg.Body()) < bellLength || seg.ReleaseFd() != nil {
		seg.Close()
		return
	}
	// The mapping without its descriptor: a subscriber holds one, the
	// topic's, as before the bell (TestBellFds).
	v.bellSeg, v.bell = seg, (*uint32)(unsafe.Pointer(&seg.Body()[0]))
}

// subscribeRemote subscribes to another uid's topic through its
// publisher's socket (remote.go): the cell's segment is handed over
// first, and the publisher has mapped it when the topic comes back. A
// publisher busy with others' set-ups is asked again each millisecond,
// for SubscribeOptions.Wait or shareTimeout, whichever is longer.
func (s *Subscriber[T]) subscribeRemote() error {
	c, err := reserveCell(s.dir, s.name, false)
	if err != nil {
		return err
	}
	deadline := time.Now().Add(max(s.opts.Wait, shareTimeout))
	for {
		s.t, s.conn, err = exchange(s.dir, s.name, c.s, s.schema, s.opts)
		if !errors.Is(err, errSetupsBusy) || !time.Now().Before(deadline) {
			break
		}
		time.Sleep(time.Millisecond)
	}
	if err != nil {
		c.release()
		return err
	}
	c.setKnown()
	s.pos = s.t.start()
	state := uint32(cellActive)
	if s.t.reliable {
		state = cellJoining
	}
	s.cell = c
	s.token = c.fill(s.t.epoch, s.pos, state)
	if s.t.reliable {
		if err := s.join(); err != nil {
			s.cell.release()
			s.t.close()
			unix.Close(s.conn)
			return err
		}
	}
	s.evictSeen = load(s.t.mem, offEvictions)
	return nil
}
