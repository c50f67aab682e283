package spin

import (
	"encoding/binary"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/spinwire/spinwire/internal/msg"
)

// MPSC region: the Ring's header layout (magic "SPINMPSC"; Tail in block 1
// is claimed with CAS by every producer, which also bump Signal), then
// slots in the InSlot format: T, then a sequence word ending the slot.
//
// Slot sequence protocol (after D. Vyukov's bounded queue), for the slot of
// position p (index p & (capacity-1)):
//
//	seq == p          free for position p (or claimed, not yet committed)
//	seq == p+1        committed: the message for p is ready
//	seq == p+capacity consumed (or skipped): free for position p+capacity
//
// A producer claims p by CAS of Tail from p to p+1 after seeing seq == p,
// writes T, then stores seq = p+1 (committing with CAS from p, so that a
// producer whose slot the consumer already skipped learns it). The consumer
// at p reads seq: p+1 means ready; p with Tail > p means claimed and not
// committed — after StuckTimeout it skips the slot (CAS seq p → p+capacity);
// any other value is corruption.
const (
	MPSCMagic = 0x4353504d_4e495053 // "SPINMPSC" as little-endian uint64
)

// MPSCOptions configures NewMPSC.
type MPSCOptions struct {
	Capacity int // slots; a power of two in [2, MaxRingCapacity]
}

// MPSC is a multi-producer, single-consumer ring of T in shared memory.
// Any number of goroutines and processes may publish through their own
// handles (or one handle shared: producer methods are safe for concurrent
// use); one goroutine consumes.
type MPSC[T any] struct {
	ringShared

	// StuckTimeout is how long the consumer waits for a claimed slot to be
	// committed before it skips it (a producer that died mid-claim). 0
	// means 100 ms. It must exceed any legitimate gap between a producer's
	// claim and its commit: a producer that commits after its slot was
	// skipped has its Commit return false, but its late writes to the slot
	// may tear the message of whoever claims the slot next.
	StuckTimeout time.Duration
	// OnSkip, if set, is called by the consumer for every skipped position.
	OnSkip func(pos uint64)

	pwakes atomic.Uint64
	_      [64]byte

	head       uint64
	stuckSince time.Time
	skipped    uint64
	cfault     fault
	_          [64]byte
}

// MPSCClaim identifies a claimed slot until Commit.
type MPSCClaim struct {
	pos uint64
	seq *uint64
}

// NewMPSC formats region as an empty MPSC ring of T. The region must
// hold RingLength[T](opts.Capacity, InSlot) bytes (an MPSC ring has the
// in-slot layout) and start on a 64-byte boundary (a segment body does);
// a shorter or misaligned one gives ErrBadRegion.
func NewMPSC[T any](region []byte, opts MPSCOptions) (*MPSC[T], error) {
	length, stride, err := RingLength[T](opts.Capacity, InSlot)
	if err != nil {
		return nil, err
	}
	if err := checkRegion(region, length); err != nil {
		return nil, err
	}
	clear(region[:length])
	le := binary.LittleEndian
	for i := range opts.Capacity {
		le.PutUint64(region[RingHeaderLength+(i+1)*stride-SlotSeqLength:], uint64(i))
	}
	// SYNC: release of header and slot sequences; pairs with OpenMPSC.
	formatRing[T](region, MPSCMagic, InSlot, opts.Capacity, stride)
	return bindMPSC[T](region, uint64(opts.Capacity), stride)
}

// OpenMPSC returns a handle on an MPSC ring another process formatted,
// after validating its header against T and region; a T other than the
// creator's gives a *layout.MismatchError naming the field, as OpenRing.
func OpenMPSC[T any](region []byte) (*MPSC[T], error) {
	proto, capacity, stride, err := openRingHeader[T](region, MPSCMagic, "SPINMPSC", "MPSC ring")
	if err != nil {
		return nil, err
	}
	if proto != InSlot {
		return nil, msg.Errorf("%w: MPSC protocol %v (want %v)", ErrBadRegion, proto, InSlot)
	}
	return bindMPSC[T](region, capacity, stride)
}

func bindMPSC[T any](region []byte, capacity uint64, stride int) (*MPSC[T], error) {
	q := &MPSC[T]{}
	h, _, err := q.bind(region, InSlot, capacity, stride, true)
	if err != nil {
		return nil, err
	}
	q.head = h
	return q, nil
}

func (q *MPSC[T]) seqP(pos uint64) *uint64 {
	return (*uint64)(unsafe.Add(q.slots, uintptr(pos&q.mask)*q.stride+q.stride-SlotSeqLength))
}

func (q *MPSC[T]) msgP(pos uint64) *T {
	return (*T)(unsafe.Add(q.slots, uintptr(pos&q.mask)*q.stride))
}

// maxClaimTries bounds the CAS loop of a claim: a hostile or corrupted ring
// makes a producer give up, not spin forever.
const maxClaimTries = 1 << 10

// Claim reserves the next slot and returns it to fill in place; Commit
// publishes it. ok is false when the ring is full (or contended beyond
// reason). Safe for concurrent use. Cost: a load of the tail, one of the
// slot's sequence and one CAS.
func (q *MPSC[T]) Claim() (m *T, c MPSCClaim, ok bool) {
	for range maxClaimTries {
		// SYNC: acquire of the tail; producers race on it with CAS.
		t := atomic.LoadUint64(q.tailP)
		seq := q.seqP(t)
		// SYNC: acquire of the slot's state; pairs with the consumer's
		// release of it (seq = p+capacity) in Poll.
		s := atomic.LoadUint64(seq)
		switch {
		case s == t:
			if atomic.CompareAndSwapUint64(q.tailP, t, t+1) {
				return q.msgP(t), MPSCClaim{t, seq}, true
			}
		case s < t: // the slot still holds the previous lap: full
			return nil, MPSCClaim{}, false
		}
		// s > t: another producer moved the tail on; reload.
	}
	return nil, MPSCClaim{}, false
}

// Commit publishes a claimed slot. It returns false when the consumer
// skipped the slot because the claim outlived StuckTimeout: the message is
// lost, and the caller decides whether to publish it again.
func (q *MPSC[T]) Commit(c MPSCClaim) bool {
	if c.seq == nil {
		return false
	}
	// SYNC: release of the message (CAS is a full barrier); pairs with the
	// acquire in Poll. The full barrier also orders it before the load of
	// waiters (see parkOn).
	ok := atomic.CompareAndSwapUint64(c.seq, c.pos, c.pos+1)
	// SYNC: acquire of the consumer's parked flag; pairs with parkOn.
	if atomic.LoadUint32(q.waitersP) != 0 {
		atomic.AddUint32(q.signalP, 1)
		futexWake(q.signalP)
		q.pwakes.Add(1)
	}
	return ok
}

// TryPublish copies *m into a claimed slot and commits it; false when full.
func (q *MPSC[T]) TryPublish(m *T) bool {
	p, c, ok := q.Claim()
	if !ok {
		return false
	}
	*p = *m
	return q.Commit(c)
}

// Poll calls fn for up to max ready messages (max ≤ 0: up to capacity), in
// position order, and frees their slots. A slot claimed but not committed
// for StuckTimeout is skipped (counted by Skipped, reported to OnSkip).
// A sequence or tail no correct producer writes stops the ring (see Err).
func (q *MPSC[T]) Poll(max int, fn func(*T)) int {
	if q.cfault.code != faultNone {
		return 0
	}
	if max <= 0 || uint64(max) > q.capacity {
		max = int(q.capacity)
	}
	n := 0
	for n < max {
		h := q.head
		seq := q.seqP(h)
		// SYNC: acquire of the message; pairs with the CAS in Commit.
		s := atomic.LoadUint64(seq)
		if s == h+1 {
			fn(q.msgP(h))
			// SYNC: release of the slot to the producer of h+capacity;
			// pairs with the acquire in Claim.
			atomic.StoreUint64(seq, h+q.capacity)
			q.head = h + 1
			q.stuckSince = time.Time{}
			n++
			continue
		}
		if s != h {
			q.cfault.set(faultSeq, h, s)
			break
		}
		if !q.claimedStuck(h, seq) {
			break
		}
	}
	if n > 0 {
		// SYNC: release of the head, for Len and producers' diagnostics.
		atomic.StoreUint64(q.headP, q.head)
	}
	return n
}

// claimedStuck handles an uncommitted slot at h: if it is claimed and has
// been for StuckTimeout, skip it and report true (the caller goes on).
func (q *MPSC[T]) claimedStuck(h uint64, seq *uint64) bool {
	t := atomic.LoadUint64(q.tailP)
	if t < h || t-h > q.capacity {
		q.cfault.set(faultTail, h, t)
		return false
	}
	if t == h { // nothing claimed: simply empty
		return false
	}
	now := time.Now()
	if q.stuckSince.IsZero() {
		q.stuckSince = now
		return false
	}
	timeout := q.StuckTimeout
	if timeout <= 0 {
		timeout = 100 * time.Millisecond
	}
	if now.Sub(q.stuckSince) < timeout {
		return false
	}
	q.stuckSince = time.Time{}
	// SYNC: the skip races with a late Commit's CAS; exactly one wins.
	if !atomic.CompareAndSwapUint64(seq, h, h+q.capacity) {
		return true // committed meanwhile: consume it on the next turn
	}
	q.head = h + 1
	q.skipped++
	atomic.StoreUint64(q.headP, q.head)
	if q.OnSkip != nil {
		q.OnSkip(h)
	}
	return true
}

// Skipped returns how many claimed slots the consumer has skipped.
func (q *MPSC[T]) Skipped() uint64 { return q.skipped }

// Wakes returns how many FUTEX_WAKE calls producers through this handle made.
func (q *MPSC[T]) Wakes() uint64 { return q.pwakes.Load() }

// Err reports a value no correct producer could write; Poll stops.
func (q *MPSC[T]) Err() error { return q.cfault.err() }

// Ready reports whether the next message is committed.
func (q *MPSC[T]) Ready() bool {
	return q.cfault.code == faultNone && atomic.LoadUint64(q.seqP(q.head)) == q.head+1
}

// Park sleeps until a producer commits or d passes; see Parker.
func (q *MPSC[T]) Park(d time.Duration) { parkOn(q.signalP, q.waitersP, q.Ready, d) }

// Capacity returns the number of slots.
func (q *MPSC[T]) Capacity() int { return int(q.capacity) }

// Cursors returns the queue's shared positions now: head (consumed) and
// tail (claimed by producers), for an observer (package stat). Atomic
// loads, safe from any goroutine.
func (q *MPSC[T]) Cursors() (head, tail uint64) {
	head = atomic.LoadUint64(q.headP)
	return head, head + uint64(q.Len())
}

// Len returns claimed-or-committed, unconsumed messages per the cursors now.
func (q *MPSC[T]) Len() int {
	h, t := atomic.LoadUint64(q.headP), atomic.LoadUint64(q.tailP)
	if t < h || t-h > q.capacity {
		return 0
	}
	return int(t - h)
}
