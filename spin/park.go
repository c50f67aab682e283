package spin

import (
	"sync/atomic"
	"time"
)

// Parker is a consumer that can sleep until its producer publishes. Ring,
// Log and MPSC implement it; Park and Backoff idlers use it.
type Parker interface {
	// Park returns when a message may be ready, when d has passed (d ≤ 0:
	// no limit), or spuriously; callers re-check. Cost when a message is
	// already ready: two atomic stores and a load, no syscall.
	Park(d time.Duration)
}

// parkOn implements the consumer half of park/wake over a futex word
// (signal) and a parked flag (waiters) in shared memory:
//
//	consumer (parkOn)                    producer (publish)
//	s := load(signal)                    store(seq or tail)   (plain MOV)
//	store(waiters, 1)  (XCHG)            if load(waiters) != 0 {
//	heavyFence()       (membarrier)          add(signal, 1)
//	if ready() { waiters = 0; return }       futex_wake(signal)
//	futex_wait(signal, s)                }
//	store(waiters, 0)
//
// Either the producer sees waiters == 1 and wakes, or the consumer's
// ready() sees the message. The producer's load may pass its own store
// (x86-TSO lets a load overtake an earlier store), but heavyFence runs a
// full barrier on the producer's CPU after the consumer's flag is visible:
// a store still buffered there is drained before ready() looks, and a load
// made after the barrier sees the flag. (Without the membarrier, producers
// publish with XCHG, itself a full barrier.) If the wake comes between the
// consumer's check and its futex_wait, signal has changed and futex_wait
// returns at once. So no wake-up is lost, and a producer whose consumer is
// spinning never makes a syscall.
func parkOn(signal, waiters *uint32, ready func() bool, d time.Duration) {
	// SYNC: acquire of the signal word; the futex compares against it.
	s := atomic.LoadUint32(signal)
	// SYNC: the parked flag, then the heavy fence, then the re-check; pairs
	// with the producer's store-then-load in publish.
	atomic.StoreUint32(waiters, 1)
	if asymmetricFence && !heavyFence() && (d <= 0 || d > time.Millisecond) {
		d = time.Millisecond // the fence failed: never sleep long on a maybe-missed wake
	}
	if !ready() {
		futexWait(signal, s, d)
	}
	atomic.StoreUint32(waiters, 0)
}

// Park sleeps until the producer publishes or d passes; see Parker. The
// producer pays a FUTEX_WAKE only for publishes made while the consumer is
// parked.
func (r *Ring[T]) Park(d time.Duration) {
	parkOn(r.signalP, r.waitersP, r.Ready, d)
}
