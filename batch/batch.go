package batch

import (
	"github.com/spinwire/spinwire/asm"
	"github.com/spinwire/spinwire/spin"
)

// Publisher claims, fills and commits batches of slots on a Ring. It is the
// ring's producer side: one goroutine.
type Publisher[T any] struct {
	r *spin.Ring[T]
	n int // slots in the pending claim
}

// NewPublisher returns a Publisher on r.
func NewPublisher[T any](r *spin.Ring[T]) *Publisher[T] { return &Publisher[T]{r: r} }

// Claim makes the pending batch up to n free slots and returns its size
// (0 when nothing was pending and the ring is full). Fill them with
// Slot(0…k-1), then Commit or Abort. n is the size of the whole batch:
// claiming again before Commit grows the batch to n slots if there is
// room, and never shrinks it (spin.Ring.ClaimN).
func (p *Publisher[T]) Claim(n int) int {
	p.n = p.r.ClaimN(n)
	return p.n
}

// Slot returns the i-th claimed slot, to fill in place; nil out of range.
func (p *Publisher[T]) Slot(i int) *T { return p.r.Claimed(i) }

// Pending returns how many slots are claimed and not committed.
func (p *Publisher[T]) Pending() int { return p.n }

// Commit publishes the claimed slots, in order: one release store for the
// batch (see spin.Ring.Commit for the InSlot protocol's per-slot words).
func (p *Publisher[T]) Commit() {
	p.r.Commit()
	p.n = 0
}

// Abort drops the claimed slots; none is published.
func (p *Publisher[T]) Abort() {
	p.r.Abort()
	p.n = 0
}

// Drain calls fn for every message available on r, up to max (max ≤ 0:
// up to the ring's capacity), and frees them with one head store. It
// returns how many it handled. See spin.Ring.Poll.
func Drain[T any](r *spin.Ring[T], max int, fn func(*T)) int { return r.Poll(max, fn) }

// Batcher copies messages into a Ring in batches and publishes them by a
// flush policy: when Size messages are pending, on Flush, or — checked on
// every Add and Tick — when the oldest pending message has waited MaxDelay
// TSC ticks (asm.Ticks; convert with asm.TicksPerSecond). One goroutine.
type Batcher[T any] struct {
	Size     int    // messages per batch; ≤ 1 publishes every message at once
	MaxDelay uint64 // ticks a message may wait before a flush; 0: no time bound

	r      *spin.Ring[T]
	n      int    // messages copied into the pending claim
	oldest uint64 // ticks when the first pending message was added
}

// NewBatcher returns a Batcher that publishes on r in batches of size.
func NewBatcher[T any](r *spin.Ring[T], size int, maxDelay uint64) *Batcher[T] {
	return &Batcher[T]{Size: size, MaxDelay: maxDelay, r: r}
}

// Add copies *m into the pending batch and flushes by the policy. It
// returns false, adding nothing, when the ring has no free slot (the
// pending batch is then flushed so the consumer can make room).
func (b *Batcher[T]) Add(m *T) bool {
	if b.r.ClaimN(b.n+1) <= b.n {
		b.Flush()
		return false
	}
	*b.r.Claimed(b.n) = *m
	b.n++
	if b.n == 1 && b.MaxDelay > 0 {
		b.oldest = asm.Ticks()
	}
	if b.n >= b.Size || (b.MaxDelay > 0 && asm.Ticks()-b.oldest >= b.MaxDelay) {
		b.Flush()
	}
	return true
}

// Tick flushes when the oldest pending message has waited MaxDelay; call it
// from the producer's idle loop. It returns how many messages it flushed.
func (b *Batcher[T]) Tick() int {
	if b.n > 0 && b.MaxDelay > 0 && asm.Ticks()-b.oldest >= b.MaxDelay {
		return b.Flush()
	}
	return 0
}

// Flush publishes the pending messages and returns how many there were.
func (b *Batcher[T]) Flush() int {
	n := b.n
	if n > 0 {
		b.r.Commit()
		b.n = 0
	}
	return n
}

// Pending returns the messages added and not yet flushed.
func (b *Batcher[T]) Pending() int { return b.n }
