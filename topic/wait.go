package topic

import (
	"math"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Waiting. A subscriber with nothing to read may sleep in the kernel
// (Wait) instead of spinning: it marks its cell parked, looks at the tail
// once more, and waits on the tail's low 32 bits (a futex on the topic
// segment, shared between processes: no FUTEX_PRIVATE_FLAG) for at most
// its timeout. The publisher cannot read every cell at every publish, so
// its tracker does: each millisecond it looks for parked cells, and while
// it has seen one in the last wakeSticky it sets a flag that makes every
// publish end with a FUTEX_WAKE of every waiter on the tail. A subscriber
// that parks before the tracker has seen it sleeps out its timeout (a
// millisecond at most by default) unless a publish after the tracker's
// next look wakes it. Cost: while no one has parked for wakeSticky, a load
// of the flag per publish; while someone has, a FUTEX_WAKE system call per
// publish (BenchmarkPublish/stream).

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
// an eviction: Poll says which). For one goroutine, with Poll; a
// subscriber woken takes what is there with Poll. Cost when it sleeps: two
// system calls, and a FUTEX_WAKE per publish on the publisher's side for
// the next wakeSticky.
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
	// by the timeout.
	s.cell.setParked(1)
	defer s.cell.setParked(0)
	t := load(m, offTail)
	if t != s.Position() {
		return true
	}
	ts := unix.NsecToTimespec(int64(timeout))
	unix.Syscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(tailWord32(m))), futexWait, uintptr(uint32(t)),
		uintptr(unsafe.Pointer(&ts)), 0, 0)
	return load(m, offTail) != s.Position()
}

// setParked marks the cell parked (1) or not (0).
func (c *cell) setParked(v uint32) {
	atomic.StoreUint32((*uint32)(unsafe.Pointer(&c.s.mem[c.off+cellParked])), v)
}

// parkedSeen reports whether any active cell of this epoch is parked.
func (t *tracker) parkedSeen() bool {
	seen := false
	t.activeCells(func(_ string, b []byte, c int) bool {
		seen = load32(b, c+cellParked) == 1
		return !seen
	})
	return seen
}
