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
//	consumer (parkOn)                 producer (publish, then wakeIfParked)
//	s := load(signal)                 store(tail or seq)    ← full barrier (XCHG)
//	store(waiters, 1) ← full barrier  if load(waiters) != 0 {
//	if ready() { waiters = 0; return }    add(signal, 1)
//	futex_wait(signal, s)                 futex_wake(signal)
//	store(waiters, 0)                 }
//
// Either the producer sees waiters == 1 and wakes, or the consumer's
// ready() sees the message: both sides store, then load the other's word,
// with a full barrier in between (Go's atomic stores are XCHG on amd64 and
// sequentially consistent everywhere). If the wake comes between the
// consumer's check and its futex_wait, signal has changed and futex_wait
// returns at once. So no wake-up is lost, and a producer whose consumer is
// spinning never makes a syscall.
func parkOn(signal, waiters *uint32, ready func() bool, d time.Duration) {
	// SYNC: acquire of the signal word; the futex compares against it.
	s := atomic.LoadUint32(signal)
	// SYNC: store-then-load with the producer's publish-then-load of
	// waiters; pairs with publish/wakeIfParked.
	atomic.StoreUint32(waiters, 1)
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
