package topic

import (
	"math"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Waiting. A subscriber with nothing to read may sleep in the kernel
// (Wait) instead of spinning: it counts the park in its cell and marks the
// cell parked, looks at the tail once more, and waits on the tail's low 32
// bits (a futex on the topic segment, shared between processes: no
// FUTEX_PRIVATE_FLAG) for at most its timeout. The publisher cannot read
// every cell at every publish, so its tracker does: each millisecond it
// looks for cells parked now or whose count of parks moved since its last
// look, and while it has seen one in the last wakeSticky it sets a flag
// that makes every publish end with a FUTEX_WAKE of every waiter on the
// tail. A subscriber that parks while the flag is down (none of its kind
// parked for wakeSticky) may miss the wake of the publish that follows; the
// tracker's next look, seeing it parked behind the tail, wakes it: such a
// wait lasts up to a millisecond more, never its whole timeout
// (TestWaitMissedWake). Cost: while no one has parked for wakeSticky, a
// load of the flag per publish; while someone has, a FUTEX_WAKE system
// call per publish (BenchmarkPublish/stream); a store in the cell per
// park.

const (
	futexWait = 0 // FUTEX_WAIT, shared
	futexWake = 1 // FUTEX_WAKE, shared
	// wakeSticky is how long the publisher goes on waking after the
	// tracker last saw a parked subscriber.
	wakeSticky = 10 * time.Millisecond
	// DefaultWait bounds Subscriber.Wait when its timeout is 0.
	DefaultWait = time.Millisecond
)

// tailWord32 is the futex word: the tail's low 32 bits.
func tailWord32(mem []byte) *uint32 { return (*uint32)(unsafe.Pointer(&mem[offTail])) }

// wakeWaiters wakes every subscriber waiting on the tail, if the tracker
// has seen one park lately.
func (p *Publisher[T]) wakeWaiters() {
	if p.subs.wake.Load() {
		unix.RawSyscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(tailWord32(p.mem))), futexWake, math.MaxInt32, 0, 0, 0)
	}
}

// Wait sleeps until the topic has a message for this subscriber, or for at
// most timeout (0: DefaultWait), and reports whether one is there. It
// returns at once when one is; it may return early (a publisher change,
// an eviction: Poll says which). A message published just after it
// parks wakes it at once, or — when no subscriber had parked for
// wakeSticky — at the publisher tracker's next look, within about a
// millisecond. A publisher that replaces the one followed (a restart)
// ends the wait within followEvery (20 ms), and the Poll after a wait
// that found nothing looks for one (TestRestartFollowedWaiting). For one
// goroutine, with Poll; a subscriber woken takes what is there with Poll.
// Cost when it sleeps: two system calls, one more and a statx every
// followEvery of a longer wait, and a FUTEX_WAKE per publish on the
// publisher's side for the next wakeSticky.
func (s *Subscriber[T]) Wait(timeout time.Duration) bool {
	if timeout <= 0 {
		timeout = DefaultWait
	}
	if s.err != nil || s.t.mem == nil {
		return false
	}
	m := s.t.mem
	// SYNC: the parked mark, then the tail: a publish after our load
	// either finds the tracker's flag set (it saw the mark) or is caught
	// by the tracker's next look (a parked cell behind the tail).
	s.cell.countPark()
	s.cell.setParked(1)
	defer s.cell.setParked(0)
	end := time.Now().Add(timeout)
	for {
		t := load(m, offTail)
		if t != s.Position() {
			return true
		}
		left := time.Until(end)
		if left <= 0 {
			break
		}
		ts := unix.NsecToTimespec(int64(min(left, followEvery)))
		unix.Syscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(tailWord32(m))), futexWait, uintptr(uint32(t)),
			uintptr(unsafe.Pointer(&ts)), 0, 0)
		if load(m, offTail) != s.Position() {
			return true
		}
		if left > followEvery && s.replaced() {
			break // a new publisher: the next Poll follows it
		}
	}
	s.idle |= 0xff // the next empty Poll looks for a new publisher
	return false
}

// followEvery is how long a Wait sleeps before it looks at the topic's
// name for a new publisher (no one moves the old one's tail again).
const followEvery = 20 * time.Millisecond

// replaced reports whether the topic's name leads to another publisher's
// segment than the one followed (a statx; nothing allocated).
func (s *Subscriber[T]) replaced() bool {
	ino, ok := statIno(s.where)
	return ok && ino != s.t.ino
}

// setParked marks the cell parked (1) or not (0).
func (c *cell) setParked(v uint32) {
	atomic.StoreUint32((*uint32)(unsafe.Pointer(&c.s.mem[c.off+cellParked])), v)
}

// countPark adds one to the cell's count of parks (only its subscriber
// writes it).
func (c *cell) countPark() {
	w := word(c.s.mem, c.off+cellWaits)
	atomic.StoreUint64(w, atomic.LoadUint64(w)+1)
}

// parkedSeen reports whether a subscriber of this epoch has parked since
// the tracker's last look — a cell is parked now, or the cells' count of
// parks moved — and wakes the tail's waiters when a parked cell is behind
// the tail: its subscriber parked while the flag was down, after the
// publish that would have woken it. A read of every active cell.
func (t *tracker) parkedSeen() bool {
	parked, behind, parks := false, false, uint64(0)
	tail := load(t.pub, offTail)
	t.activeCells(func(_ string, b []byte, c int) bool {
		parks += load(b, c+cellWaits)
		if load32(b, c+cellParked) == 1 {
			parked = true
			behind = behind || load(b, c+cellPos) < tail
		}
		return true
	})
	if behind {
		unix.RawSyscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(tailWord32(t.pub))), futexWake, math.MaxInt32, 0, 0, 0)
	}
	moved := parks != t.parks
	t.parks = parks
	return parked || moved
}
