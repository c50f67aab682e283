package topic

import (
	"sync/atomic"
	"unsafe"
)

// Acquire gives back the messages the previous Acquire took, then takes
// up to limit messages that are ready (limit ≤ 0: as many as there are)
// without a call per message: At(i) gives the i-th. It returns how many,
// 0 when none is ready or the subscriber has stopped (Err says why).
//
//	for n := s.Acquire(256); n > 0; n = s.Acquire(256) {
//		for i := range n {
//			handle(s.At(i))
//		}
//	}
//
// On a reliable topic the messages are read in place: At points into the
// topic's shared memory, mapped read-only (writing through it crashes the
// process), and the publisher does not rewrite them before they are given
// back — by the next Acquire, Poll or Close, or by Release, which a
// subscriber about to do something else calls so as not to hold the
// publisher up (one that holds them past StallTimeout is evicted, and the
// publisher goes on). Memory read in place stays the publisher's: a
// faulty one can change a message while it is read, so a field used as an
// index or a length is checked where it is used, as with PollInPlace.
// On a reliable topic, fewer than limit means the next message is not
// ready (or, for a subscriber that records latency, is the next one the
// publisher may stamp, StampEvery, whose latency is taken when Acquire
// hands it out): a thread polling several subscriptions can move on
// without the call that would find none. On a lossy topic, where a slot
// may be rewritten at any time, Acquire takes one message at a time, as a
// copy, as Poll does. Ordering and losses are Poll's.
//
// Cost: one call per run, which stores the position once (what a
// reliable publisher waits for) and looks once at each message's sequence
// word; At is an inlined bounds check, mask and multiply-add.
// BenchmarkPollLocal/acquire, BenchmarkAcquireOne.
func (s *Subscriber[T]) Acquire(limit int) int {
	if s.err != nil {
		s.held = 0
		return 0
	}
	s.Release(s.held)
	if ev := load(s.t.mem, offEvictions); ev != s.evictSeen && s.evicted(ev) {
		return 0
	}
	limit = s.capped(limit)
	if s.t.reliable && unsafe.Sizeof(s.msg) != 0 {
		pos := s.pos
		n, waiting := s.readyRun(uint64(limit))
		if n != 0 {
			if pos&(StampEvery-1) == 0 && s.opts.Latency != nil {
				s.sample(pos)
			}
			s.base, s.mask, s.step = unsafe.Add(s.t.slots, seqLength), s.t.mask, s.t.stride
			s.held, s.idle = n, 0
			return n
		}
		if waiting { // as in Poll: no call of next to be told so
			s.housekeep()
			return 0
		}
	}
	for range 2 * s.t.capacity { // each lap moves on, as in Poll
		got, again := s.next()
		if got {
			s.pos-- // given back with the next call
			s.base, s.mask, s.step = unsafe.Pointer(&s.msg), 0, 0
			s.held, s.idle = 1, 0
			return 1
		}
		if !again || s.err != nil {
			break
		}
	}
	s.housekeep()
	return 0
}

// readyRun returns how many messages from the position are ready, up to
// limit (at most the capacity), stopping, when the subscriber records
// latency, before the next multiple of StampEvery; and waiting when none
// is because the first slot still holds an earlier lap's message (the
// next one is not written yet).
func (s *Subscriber[T]) readyRun(limit uint64) (n int, waiting bool) {
	slots, mask, stride := s.t.slots, s.t.mask, s.t.stride
	start := s.pos
	end := start + limit // limit ≤ capacity
	if s.opts.Latency != nil {
		end = min(end, start+StampEvery-start&(StampEvery-1))
	}
	pos := start
	for ; pos != end; pos++ {
		// SYNC: acquire of the slot; pairs with the publisher's release.
		// Reliable: it is not rewritten before the position passes it.
		if seq := atomic.LoadUint64((*uint64)(unsafe.Add(slots, uintptr(pos&mask)*stride))); seq != pos+1 {
			waiting = seq != 0 && seq < pos+1
			break
		}
	}
	return int(pos - start), waiting
}

// At returns the i-th of the messages the last Acquire took (0 ≤ i < the
// count it returned, and none given back since; otherwise it panics).
func (s *Subscriber[T]) At(i int) *T {
	if uint(i) >= uint(s.held) {
		panic("topic: At outside the messages acquired")
	}
	return (*T)(unsafe.Add(s.base, uintptr((s.pos+uint64(i))&s.mask)*s.step))
}

// Release gives back now the first n of the messages the last Acquire
// took (all of them when n is that many or more) and stores the
// position; the rest are taken again by the next Acquire.
func (s *Subscriber[T]) Release(n int) {
	if n <= 0 || s.held == 0 {
		return
	}
	if s.err == nil {
		s.pos += uint64(min(n, s.held))
		s.cell.setPos(s.pos) // a reliable publisher waits on it
	}
	s.held = 0
}

// Err returns why the subscriber stopped (ErrEvicted, ErrCorrupt,
// ErrClosed), or nil: what Poll returns, for Acquire's callers.
func (s *Subscriber[T]) Err() error { return s.err }
