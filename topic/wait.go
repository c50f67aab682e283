package topic

import (
	"math"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Waiting. A subscriber with nothing to read may sleep in the kernel
// (Wait) instead of spinning, on the tail's low 32 bits (a futex on the
// topic segment, shared between processes: no FUTEX_PRIVATE_FLAG), for at
// most its timeout. Who wakes it is a handshake over the topic's bell, a
// word in a page of its own (NAME~b, made by the publisher with the
// topic's epoch) that subscribers map writable:
//
//	subscriber (Wait)                    publisher (publish)
//	store(cell parked, parkedRung)       store(tail)            (MOV)
//	store(bell, bellRung)  (XCHG)        if load(bell) != 0 {
//	if tail moved: return                    CAS(bell, bellRung, 0)
//	futex_wait(tail, t)                      futex_wake(tail, all)
//	                                     }
//
// The publisher makes a system call only for a publish after someone
// rang: a busy publisher whose subscribers nap now and then pays a load
// per publish and one wake per nap (BenchmarkPublish/lossy/napping). It
// clears a ring only to wake everyone waiting, so a subscriber whose ring
// it cleared is woken, or sees the tail. A wake between the subscriber's
// look and its futex_wait finds the tail changed, and futex_wait returns
// at once. The one race left: x86-TSO lets the publisher's load of the
// bell pass its store of the tail, so a ring made in those few
// nanoseconds, whose look then misses the tail, is not answered. A fence
// on either side costs more than it saves (an XCHG on every publish; or
// spin's membarrier on every park, whose interrupts of the other CPUs
// added 2-4 us to the bridge's p50, BenchmarkProcessLatency). The tracker
// answers it instead: each millisecond it wakes the tail's waiters when
// a parked cell is behind the tail, so such a wait lasts at most about a
// millisecond more, never its timeout (TestWaitMissedWake).
//
// A subscriber of another uid gets the bell with the topic through the
// share socket. One of a publisher without a bell (an earlier version)
// marks its cell parkedHeld and counts the park instead. While the tracker has seen such a
// park within wakeSticky it holds the bell at bellHeld, which the
// publisher leaves set: every publish wakes (lossy/waking).

const (
	futexWait = 0 // FUTEX_WAIT, shared
	futexWake = 1 // FUTEX_WAKE, shared
	// wakeSticky is how long the tracker holds the bell after it last saw
	// a subscriber without the handshake park.
	wakeSticky = 10 * time.Millisecond
	// DefaultWait bounds Subscriber.Wait when its timeout is 0.
	DefaultWait = time.Millisecond

	bellSuffix = "~b" // the bell's name: the topic's and this
	bellLength = 64
	bellRung   = 1 // a subscriber may sleep: the next publish clears it and wakes
	bellHeld   = 2 // the tracker's: every publish wakes

	parkedHeld = 1 // cellParked: parked, woken by the tracker's hold of the bell
	parkedRung = 2 // parked, having rung the bell
)

// tailWord32 is the futex word: the tail's low 32 bits.
func tailWord32(mem []byte) *uint32 { return (*uint32)(unsafe.Pointer(&mem[offTail])) }

// futexWakeAll wakes every subscriber waiting on the tail of mem.
func futexWakeAll(mem []byte) {
	unix.RawSyscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(tailWord32(mem))), futexWake, math.MaxInt32, 0, 0, 0)
}

// wakeWaiters wakes every subscriber waiting on the tail if the bell is
// set (the publish paths test it inline first). A ring is cleared first,
// so that every clear is followed by a wake; the tracker's hold stays.
func (p *Publisher[T]) wakeWaiters() {
	// SYNC: the bell's clear, then the wake; pairs with Wait's ring.
	switch atomic.LoadUint32(p.bell) {
	case 0:
		return
	case bellRung:
		atomic.CompareAndSwapUint32(p.bell, bellRung, 0)
	}
	futexWakeAll(p.mem)
}

// Wait sleeps until the topic has a message for this subscriber, or for at
// most timeout (0: DefaultWait), and reports whether one is there. It
// returns at once when one is; it may return early (a publisher change,
// an eviction: Poll says which). A message published after it parks
// wakes it at once (in a rare race, or without the bell, within about a
// millisecond: the handshake above). A publisher that replaces the one
// followed (a restart) ends the wait within followEvery (20 ms), and the
// Poll after a wait that found nothing looks for one
// (TestRestartFollowedWaiting). For one goroutine, with Poll; a
// subscriber woken takes what is there with Poll. Cost when it sleeps: a
// FUTEX_WAIT (one each followEvery of a longer wait, with a statx), and
// one FUTEX_WAKE on the publisher's side.
func (s *Subscriber[T]) Wait(timeout time.Duration) bool {
	if timeout <= 0 {
		timeout = DefaultWait
	}
	if s.err != nil || s.t.mem == nil {
		return false
	}
	m := s.t.mem
	bell := s.t.bell != nil
	if bell {
		s.cell.setParked(parkedRung)
	} else {
		// SYNC: the parked mark, then the tail: a publish after our load
		// either finds the bell held (the tracker saw the mark) or is
		// caught by the tracker's next look (a parked cell behind the
		// tail).
		s.cell.countPark()
		s.cell.setParked(parkedHeld)
	}
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
		if bell {
			// SYNC: the ring (XCHG: a full barrier here), then the tail
			// (the handshake above).
			atomic.StoreUint32(s.t.bell, bellRung)
			if t = load(m, offTail); t != s.Position() {
				return true
			}
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
// name for a new publisher (no one moves the old one's tail again). A
// variable: a test lengthens it, so that only the tracker can end a
// missed wait early.
var followEvery = 20 * time.Millisecond

// replaced reports whether the topic's name leads to another publisher's
// segment than the one followed (a statx; nothing allocated).
func (s *Subscriber[T]) replaced() bool {
	ino, ok := statIno(s.where)
	return ok && ino != s.t.ino
}

// setParked marks the cell parked (parkedHeld, parkedRung) or not (0).
func (c *cell) setParked(v uint32) {
	atomic.StoreUint32((*uint32)(unsafe.Pointer(&c.s.mem[c.off+cellParked])), v)
}

// countPark adds one to the cell's count of parks (only its subscriber
// writes it).
func (c *cell) countPark() {
	w := word(c.s.mem, c.off+cellWaits)
	atomic.StoreUint64(w, atomic.LoadUint64(w)+1)
}

// parkedSeen reports whether a subscriber without the bell's handshake
// has parked since the tracker's last look — a cell is parkedHeld now, or
// the cells' count of parks moved — and wakes the tail's waiters when any
// parked cell is behind the tail: its subscriber missed the wake of the
// publish that wrote it (the bell was down, or the handshake's race). A
// read of every active cell.
func (t *tracker) parkedSeen() bool {
	parked, behind, parks := false, false, uint64(0)
	tail := load(t.pub, offTail)
	t.activeCells(func(_ string, b []byte, c int) bool {
		parks += load(b, c+cellWaits)
		if v := load32(b, c+cellParked); v != 0 {
			parked = parked || v == parkedHeld
			behind = behind || load(b, c+cellPos) < tail
		}
		return true
	})
	if behind {
		futexWakeAll(t.pub)
	}
	moved := parks != t.parks
	t.parks = parks
	return parked || moved
}
