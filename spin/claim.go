package spin

import (
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/spinwire/spinwire/internal/msg"
	"github.com/spinwire/spinwire/internal/proc"
	"golang.org/x/sys/unix"
)

// Consumer claim: a Ring or Log has one consumer, and says which process it
// is in the word at ConsumerClaimOffset (block 3, on the cache line after
// Waiters, so the producer's load of Waiters never meets it):
//
//	+-------------------------------+-------------------------------+
//	|   Consumer PID (uint32)       | PID's start time, low 32 bits | 448
//	+-------------------------------+-------------------------------+
//
// 0 means no consumer. The start time is field 22 of /proc/<pid>/stat
// (clock ticks after boot): a pid that the kernel gave to another process
// since carries another start time, so a claim survives no pid reuse. A
// process whose start time cannot be read stores 0 there, and is then known
// by its pid alone. Peers must share a pid namespace.
//
// A claim is taken with a CAS from 0, or from a claim whose process is dead
// (no such pid, a zombie, or another start time); Close gives it back with
// a CAS from the handle's own claim to 0. Only opening and closing touch the
// word: the hot path never reads it.
const ConsumerClaimOffset = WaitersOffset + 64 // uint64: the consumer's claim; 0 when none

// Compile-time check: the claim word lies in block 3, a line past Waiters.
var _ = [1]struct{}{}[RingHeaderLength-ConsumerClaimOffset-64]

// maxPID is the largest pid Linux hands out (PID_MAX_LIMIT on 64-bit).
const maxPID = 1 << 22

// consumerClaim is a handle's hold on the consumer side of a region.
type consumerClaim struct {
	word *uint64 // the region's claim word
	held uint64  // the claim this handle stored; 0 when it holds none
}

// take claims the consumer side for this process, taking over the claim of
// a dead process. It fails with ErrConsumerTaken, naming the live pid
// that holds it; producerOpen names the function a producer opens with.
func (c *consumerClaim) take(producerOpen string) error {
	if c.held != 0 {
		return nil
	}
	me := selfClaim()
	var old uint64
	for range 4 { // each retry means the word changed under us
		// SYNC: acquire of the holder's claim; pairs with the CAS below and
		// the one in release, made by other handles.
		old = atomic.LoadUint64(c.word)
		if old != 0 && claimAlive(old) {
			break
		}
		// SYNC: the CAS publishes our claim, and orders the consumer state
		// we read after it (the head) after the previous holder's release.
		if atomic.CompareAndSwapUint64(c.word, old, me) {
			c.held = me
			return nil
		}
	}
	pid := uint32(old)
	if pid == uint32(me) {
		return msg.Errorf("%w: pid %d (this process) holds it through another handle; Close that one first, or open the producer side with %s",
			ErrConsumerTaken, pid, producerOpen)
	}
	return msg.Errorf("%w: pid %d holds it and is running; a ring has one consumer (a producer opens with %s)",
		ErrConsumerTaken, pid, producerOpen)
}

// release gives the claim back, if this handle holds it and nobody took it
// over meanwhile.
func (c *consumerClaim) release() {
	if c.held == 0 {
		return
	}
	// SYNC: release of the consumer side (and of the head stored before);
	// pairs with the acquire and CAS in take.
	atomic.CompareAndSwapUint64(c.word, c.held, 0)
	c.held = 0
}

// claimWord returns the claim word of a ring or log region.
func claimWord(region []byte) *uint64 {
	return (*uint64)(unsafe.Pointer(&region[ConsumerClaimOffset]))
}

var (
	selfOnce  sync.Once
	selfValue uint64
)

// selfClaim returns this process's claim: its pid and start time.
func selfClaim() uint64 {
	selfOnce.Do(func() {
		pid := unix.Getpid()
		_, start, _ := procStat(pid)
		selfValue = makeClaim(uint32(pid), start)
	})
	return selfValue
}

// procStat is proc.Stat with a buffer of its own: for opening a ring, not
// for hot paths.
func procStat(pid int) (state byte, start uint64, err error) {
	var buf [proc.StatLength]byte
	return proc.Stat(pid, &buf)
}

func makeClaim(pid uint32, start uint64) uint64 { return uint64(uint32(start))<<32 | uint64(pid) }

// claimAlive reports whether the process a claim names still runs: its pid
// exists, is no zombie, and (when both are known) started when the claim
// says. A pid out of Linux's range is dead.
func claimAlive(claim uint64) bool {
	pid, start := uint32(claim), uint32(claim>>32)
	if pid == 0 || pid > maxPID {
		return false
	}
	if err := unix.Kill(int(pid), 0); err == unix.ESRCH {
		return false
	}
	state, started, err := procStat(int(pid))
	switch {
	case err == unix.ENOENT || err == unix.ESRCH:
		return false // gone since kill
	case err != nil:
		return true // no /proc to ask: trust kill
	case state == 'Z' || state == 'X':
		return false
	}
	return start == 0 || started == 0 || uint32(started) == start
}
