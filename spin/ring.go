package spin

import (
	"encoding/binary"
	"sync/atomic"
	"unsafe"

	"github.com/spinwire/spinwire/asm"
	"github.com/spinwire/spinwire/internal/msg"
	"github.com/spinwire/spinwire/layout"
)

// Ring region: a header of four 128-byte blocks, then the slots.
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+---------------------------------------------------------------+
//	|                 Magic "SPINRING" (uint64 LE)                  |   0  block 0: written once by
//	+-------------------------------+-------------------------------+      the creator, read-only after
//	|            Version            |           Protocol            |   8
//	+-------------------------------+-------------------------------+
//	|                      Capacity (slots, uint64)                 |  16
//	+-------------------------------+-------------------------------+
//	|         Stride (bytes)        |      Message Size (bytes)     |  24
//	+-------------------------------+-------------------------------+
//	|               Layout Fingerprint of T (uint64)                |  32
//	+---------------------------------------------------------------+
//	|     Schema Start (uint64): bytes from 0 to T's schema text    |  40
//	+-------------------------------+-------------------------------+
//	|     Schema Length (bytes)     |         reserved to 128      ... 48
//	+-------------------------------+-------------------------------+
//	|       Tail Position (uint64; Cursors only, see publishedTo)   | 128  block 1: producer writes
//	+-------------------------------+-------------------------------+
//	|      Signal (futex word)      |         reserved to 256      ... 136
//	+---------------------------------------------------------------+
//	|                 Head Position (uint64)                        | 256  block 2: consumer writes
//	+---------------------------------------------------------------+      on every drain
//	|     Waiters (uint32 flag)     |         reserved to 448      ... 384  block 3: consumer writes
//	+---------------------------------------------------------------+      only when it parks,
//	|      Consumer Claim (uint64: pid, start time; see claim.go)   | 448  opens or closes
//	+---------------------------------------------------------------+
//	|                  Slot 0 … Slot Capacity-1                    ... 512
//	+---------------------------------------------------------------+
//	|  T's schema text (layout.Schema.Encode), padded to 64 bytes  ... Schema Start
//
// Slot, protocol InSlot (stride: sizeof(T)+8 rounded up to 64): T first,
// the sequence word last, so the consumer polls the slot's last line and a
// message of up to 56 bytes travels with its sequence in one cache line:
//
//	+---------------------------------------------------------------+
//	|                        T, then padding                       ...
//	+---------------------------------------------------------------+
//	|  Sequence (uint64): position+1 once the message is ready      |  stride-8
//	+---------------------------------------------------------------+
//
// For a T that spans several lines, the producer fills the earlier lines
// while the consumer polls only the last; a T of up to 56 bytes travels
// with its sequence in a single line transfer, the fastest round trip
// (BenchmarkRingRoundTrip, size=56 against size=64).
//
// Slot, protocol Cursors (stride: sizeof(T) rounded up to 64): T, padding.
//
// Each block is written by one process only: the consumer's head stores
// never invalidate the line the producer reads Waiters from, and neither
// touches block 0. Positions only grow; slot index = position & (capacity-1).
const (
	RingMagicOffset        = 0                         // uint64: RingMagic
	RingVersionOffset      = RingMagicOffset + 8       // uint32: RingVersion
	RingProtocolOffset     = RingVersionOffset + 4     // uint32: Protocol
	RingCapacityOffset     = RingProtocolOffset + 4    // uint64: slots, a power of two
	RingStrideOffset       = RingCapacityOffset + 8    // uint32: bytes per slot
	RingMsgSizeOffset      = RingStrideOffset + 4      // uint32: sizeof(T)
	RingFingerprintOffset  = RingMsgSizeOffset + 4     // uint64: layout.Schema.Fingerprint of T
	RingSchemaStartOffset  = RingFingerprintOffset + 8 // uint64: where T's schema text starts (after the slots)
	RingSchemaLengthOffset = RingSchemaStartOffset + 8 // uint32: its length in bytes; 0 when not stored
	TailOffset             = 128                       // uint64: next position the producer will fill
	SignalOffset           = TailOffset + 8            // uint32: futex word, bumped by the producer to wake
	HeadOffset             = 256                       // uint64: next position the consumer will read
	WaitersOffset          = 384                       // uint32: 1 while the consumer is (about to be) parked
	RingHeaderLength       = 512                       // bytes before slot 0
	SlotSeqLength          = 8                         // InSlot: bytes of the sequence word that ends a slot
	RingMagic              = 0x474e4952_4e495053       // "SPINRING" as little-endian uint64
	RingVersion            = 2                         // bumped on any incompatible change
	MaxRingCapacity        = 1 << 24                   // slots
	slotAlign              = 64                        // slots start on cache-line boundaries
	regionAlign            = 64                        // a ring region must start on a cache line
	ringMagicStr           = "SPINRING"                // for messages
	ringMsgMax             = 1 << 20                   // bytes; largest T a ring carries
)

// Protocol selects how a Ring tells the consumer a slot is ready.
type Protocol uint32

const (
	// InSlot stores position+1 in each slot's last word after the message:
	// the consumer polls the slot itself, so one cache-line transfer carries
	// both "ready" and (up to 56 bytes of) data.
	InSlot Protocol = 1
	// Cursors publishes a tail position in the producer's block; the
	// consumer polls it, then reads the slot: two lines per message, but
	// slots hold T alone and a batch costs one tail store.
	Cursors Protocol = 2
)

func (p Protocol) String() string {
	switch p {
	case InSlot:
		return "inslot"
	case Cursors:
		return "cursors"
	}
	return msg.Sprintf("Protocol(%d)", uint32(p))
}

// DefaultProtocol is the protocol NewRing uses when none is given: the one
// with the faster cross-process round trip (BenchmarkRingRoundTrip and
// pingpong -protocol). Both protocols are kept because each wins
// somewhere: InSlot for request/response and latency (one line transfer
// per message); Cursors for batched streams (one tail store per batch) and
// for messages that fill a whole cache line, where InSlot needs a second
// line per slot for the sequence word (BenchmarkRingStream).
// docs/benchmarks.md has the figures.
const DefaultProtocol = InSlot

// RingOptions configures NewRing.
//
// Capacity is what may be in flight, and also how many lines the two
// sides walk through: a ring that carries one request at a time answered
// sooner when small (two slots a side fit any L1; 1024 of 64 bytes, ping
// and pong, do not). pingpong's 64-byte round trip with -slots 2 instead
// of 1024: p50 591–601 ns against 631–651 on the EPYC host's slow state
// (docs/benchmarks.md, "Round trip").
type RingOptions struct {
	Capacity int      // slots; a power of two in [2, MaxRingCapacity]
	Protocol Protocol // 0 means DefaultProtocol
}

// RingLength returns the bytes a ring of capacity slots of T needs, and the
// stride of one slot.
func RingLength[T any](capacity int, p Protocol) (length, stride int, err error) {
	s, err := layout.Of[T]()
	if err != nil {
		return 0, 0, err
	}
	if p == 0 {
		p = DefaultProtocol
	}
	if p != InSlot && p != Cursors {
		return 0, 0, msg.Errorf("%w: protocol %d", ErrBadRegion, uint32(p))
	}
	if capacity < 2 || capacity > MaxRingCapacity || capacity&(capacity-1) != 0 {
		return 0, 0, msg.Errorf("%w: capacity=%d (want a power of two in 2…%d)", ErrInvalidCapacity, capacity, MaxRingCapacity)
	}
	if s.Size > ringMsgMax {
		return 0, 0, msg.Errorf("%w: %s is %d bytes (ring slots hold at most %d)", ErrBadRegion, s.Name, s.Size, ringMsgMax)
	}
	stride = slotStride(int(s.Size), p)
	return RingHeaderLength + capacity*stride + schemaSpace(s), stride, nil
}

func slotStride(size int, p Protocol) int {
	if p == InSlot {
		size += SlotSeqLength
	}
	return (size + slotAlign - 1) &^ (slotAlign - 1)
}

// Ring is a single-producer, single-consumer ring of fixed-size slots of T
// in shared memory. Each process makes its own Ring over the same region —
// the creator with NewRing, the other with OpenRing if it consumes or
// OpenRingProducer if it produces — and uses one side of it: the producer
// methods (TryPublish, Claim, Commit) from one goroutine, the consumer
// methods (TryConsume, Poll, Park) from one goroutine. The ring records
// its consumer (OpenRing, ClaimConsumer) and refuses a second one while
// that process lives.
//
// Producer and consumer state live in separate cache lines of this struct,
// so one process may also drive both sides from two goroutines.
type Ring[T any] struct {
	ringShared

	// Producer-local state.
	tail      uint64 // next position to publish
	headCache uint64 // last head seen; tail-headCache < capacity means room
	claimed   uint64 // slots claimed (from tail on) and not committed yet
	wakes     uint64 // FUTEX_WAKE calls made
	pfault    fault
	demote    bool // SetDemote: each publish demotes its slots' lines
	_         [64]byte

	// Consumer-local state.
	head      uint64          // next position to read
	tailCache uint64          // Cursors: last tail seen
	ra        readAheadParams // Cursors: readAhead's distances, in slots
	cfault    fault
	claim     consumerClaim // set up and given back outside the hot path
	_         [64]byte
}

// ringShared is what both sides read and never change after setup.
type ringShared struct {
	_        [64]byte
	mem      []byte         // the region, kept for its lifetime
	slots    unsafe.Pointer // slot 0
	tailP    *uint64
	headP    *uint64
	signalP  *uint32
	waitersP *uint32
	capacity uint64
	mask     uint64
	stride   uintptr
	proto    Protocol
	_        [64]byte
}

// NewRing formats region as an empty ring of T and returns its handle. The
// region must start on a 64-byte boundary (a segment body does) and hold
// RingLength bytes; bytes beyond are left alone. Start it on a 128-byte
// boundary where you can: the header's blocks then keep to 128-byte pairs
// of lines of their own, which the adjacent-line prefetcher moves together
// (RingLength is a multiple of 64 only, so round it up to 128 to place
// rings back to back: pingpong's 256-byte round trip went from 1.29 to
// 1.24 × the floor). The creator may be either side. Cost: zeroing the
// header and the slots' sequence words.
func NewRing[T any](region []byte, opts RingOptions) (*Ring[T], error) {
	if opts.Protocol == 0 {
		opts.Protocol = DefaultProtocol
	}
	length, stride, err := RingLength[T](opts.Capacity, opts.Protocol)
	if err != nil {
		return nil, err
	}
	if err := checkRegion(region, length); err != nil {
		return nil, err
	}
	clear(region[:length])
	// SYNC: release of the formatted header; pairs with the acquire in
	// openRingHeader.
	formatRing[T](region, RingMagic, opts.Protocol, opts.Capacity, stride)
	return bindRing[T](region, opts.Protocol, uint64(opts.Capacity), stride)
}

// OpenRing opens, as its consumer, a ring another process formatted with
// NewRing[T]: it validates the header — magic, version, protocol,
// capacity, stride, message size and T's fingerprint — against region's
// length, and the cursors against each other, then claims the consumer
// side (see ClaimConsumer) for this handle until Close. Errors wrap
// ErrBadRegion, ErrInvalidCapacity, ErrCorrupt or ErrConsumerTaken; a T
// other than the creator's gives a *layout.MismatchError naming the first
// field that differs (this process's T as "here", the creator's "at the
// peer"), read from the schema text the creator stored after the slots.
//
// The side that did not create a ring opens it: with OpenRing when it
// consumes, with OpenRingProducer when it produces.
func OpenRing[T any](region []byte) (*Ring[T], error) {
	r, err := OpenRingProducer[T](region)
	if err != nil {
		return nil, err
	}
	if err := r.ClaimConsumer(); err != nil {
		return nil, err
	}
	return r, nil
}

// OpenRingProducer opens, as its producer, a ring another process
// formatted with NewRing[T], validating it as OpenRing does. It claims
// nothing: the handle's consumer methods are not for use unless
// ClaimConsumer succeeds.
func OpenRingProducer[T any](region []byte) (*Ring[T], error) {
	proto, capacity, stride, err := openRingHeader[T](region, RingMagic, ringMagicStr, "ring")
	if err != nil {
		return nil, err
	}
	return bindRing[T](region, proto, capacity, stride)
}

// ClaimConsumer makes this handle the ring's only consumer: it records
// this process in the ring's claim word, taking over the claim of a
// process that has died (its pid gone, a zombie, or reused by a process
// that started later), and reloads the consumer's position from the ring.
// It returns an error wrapping ErrConsumerTaken, naming the pid, while
// another handle — in any live process, this one included — holds the
// claim; nil if this handle holds it already. OpenRing calls it; a creator
// that consumes calls it after NewRing to keep other consumers out. Cost:
// a CAS, and for a claim already there a kill(pid, 0) and a read of
// /proc/<pid>/stat. Not safe to call concurrently with the consumer
// methods.
func (r *Ring[T]) ClaimConsumer() error {
	if r.claim.held != 0 {
		return nil
	}
	if err := r.claim.take("OpenRingProducer"); err != nil {
		return err
	}
	// SYNC: acquire of the head the previous consumer released; the claim's
	// CAS ordered this load after that consumer's release.
	r.head = atomic.LoadUint64(r.headP)
	r.tailCache = r.head // Cursors: the next ready() reloads the tail
	return nil
}

// Close gives back the consumer side this handle claimed (OpenRing,
// ClaimConsumer), so that another consumer may open the ring; without a
// claim it does nothing. It does not unmap the region, and the producer
// methods still work; call it after the last consumer call.
func (r *Ring[T]) Close() { r.claim.release() }

// formatRing writes the header of a ring of T into region (already
// cleared) and publishes it under magic with a release store: block 0 of
// the descriptor. NewRing and NewMPSC share it.
func formatRing[T any](region []byte, magic uint64, proto Protocol, capacity, stride int) {
	s := layout.MustOf[T]()
	le := binary.LittleEndian
	le.PutUint32(region[RingVersionOffset:], RingVersion)
	le.PutUint32(region[RingProtocolOffset:], uint32(proto))
	le.PutUint64(region[RingCapacityOffset:], uint64(capacity))
	le.PutUint32(region[RingStrideOffset:], uint32(stride))
	le.PutUint32(region[RingMsgSizeOffset:], uint32(s.Size))
	le.PutUint64(region[RingFingerprintOffset:], s.Fingerprint)
	writeSchema(region, s, RingHeaderLength+capacity*stride)
	// SYNC: release of the header (and of anything the caller wrote into
	// the slots before); pairs with the acquire in openRingHeader.
	atomic.StoreUint64((*uint64)(unsafe.Pointer(&region[RingMagicOffset])), magic)
}

// openRingHeader validates the header of a ring of T that another process
// formatted under magic — version, protocol, capacity, stride, message size
// and T's fingerprint — against region's length, and returns what it says.
// OpenRing and OpenMPSC share it.
func openRingHeader[T any](region []byte, magic uint64, magicName, kind string) (Protocol, uint64, int, error) {
	s, err := layout.Of[T]()
	if err != nil {
		return 0, 0, 0, err
	}
	if err := checkRegion(region, RingHeaderLength); err != nil {
		return 0, 0, 0, err
	}
	// SYNC: acquire of the header; pairs with the release in formatRing.
	if m := atomic.LoadUint64((*uint64)(unsafe.Pointer(&region[RingMagicOffset]))); m != magic {
		return 0, 0, 0, msg.Errorf("%w: magic %#016x (want %q)", ErrBadRegion, m, magicName)
	}
	le := binary.LittleEndian
	if v := le.Uint32(region[RingVersionOffset:]); v != RingVersion {
		return 0, 0, 0, msg.Errorf("%w: version %d (want %d)", ErrBadRegion, v, RingVersion)
	}
	proto := Protocol(le.Uint32(region[RingProtocolOffset:]))
	if proto != InSlot && proto != Cursors {
		return 0, 0, 0, msg.Errorf("%w: protocol %d", ErrBadRegion, uint32(proto))
	}
	capacity := le.Uint64(region[RingCapacityOffset:])
	if capacity > MaxRingCapacity {
		return 0, 0, 0, msg.Errorf("%w: capacity=%d", ErrInvalidCapacity, capacity)
	}
	length, stride, err := RingLength[T](int(capacity), proto)
	if err != nil {
		return 0, 0, 0, err
	}
	if fp := le.Uint64(region[RingFingerprintOffset:]); fp != s.Fingerprint {
		return 0, 0, 0, mismatch(region, s, fp, kind)
	}
	if st, sz := le.Uint32(region[RingStrideOffset:]), le.Uint32(region[RingMsgSizeOffset:]); int(st) != stride || uintptr(sz) != s.Size {
		return 0, 0, 0, msg.Errorf("%w: stride %d, message %d bytes (want %d, %d)", ErrBadRegion, st, sz, stride, s.Size)
	}
	if err := checkRegion(region, length); err != nil {
		return 0, 0, 0, err
	}
	return proto, capacity, stride, nil
}

func checkRegion(region []byte, length int) error {
	if len(region) < length {
		return msg.Errorf("%w: %d bytes, need %d", ErrBadRegion, len(region), length)
	}
	if a := uintptr(unsafe.Pointer(unsafe.SliceData(region))); a%regionAlign != 0 {
		return msg.Errorf("%w: region at %#x is not %d-byte aligned", ErrBadRegion, a, regionAlign)
	}
	return nil
}

func bindRing[T any](region []byte, proto Protocol, capacity uint64, stride int) (*Ring[T], error) {
	r := &Ring[T]{}
	h, t, err := r.bind(region, proto, capacity, stride, proto == Cursors)
	if err != nil {
		return nil, err
	}
	if proto == InSlot {
		t = r.publishedTo(h)
	}
	r.head, r.tailCache = h, t
	r.tail, r.headCache = t, h
	r.ra = aheadUnits(uintptr(stride))
	r.claim.word = claimWord(region)
	return r, nil
}

// bind points the shared fields at region's header blocks and slots, and
// returns the shared cursors, which both sides start from and which must
// agree with each other — unless withTail is false (an InSlot Ring, whose
// producer does not write the tail): then the tail is not read.
func (r *ringShared) bind(region []byte, proto Protocol, capacity uint64, stride int, withTail bool) (head, tail uint64, err error) {
	base := unsafe.Pointer(unsafe.SliceData(region))
	r.mem = region
	r.slots = unsafe.Add(base, RingHeaderLength)
	r.tailP = (*uint64)(unsafe.Add(base, TailOffset))
	r.headP = (*uint64)(unsafe.Add(base, HeadOffset))
	r.signalP = (*uint32)(unsafe.Add(base, SignalOffset))
	r.waitersP = (*uint32)(unsafe.Add(base, WaitersOffset))
	r.capacity, r.mask, r.stride, r.proto = capacity, capacity-1, uintptr(stride), proto
	h, t := atomic.LoadUint64(r.headP), atomic.LoadUint64(r.tailP)
	if !withTail {
		t = h
	}
	if t < h || t-h > capacity {
		return 0, 0, msg.Errorf("%w: head %d, tail %d, capacity %d", ErrCorrupt, h, t, capacity)
	}
	return h, t, nil
}

// Capacity returns the number of slots.
func (r *Ring[T]) Capacity() int { return int(r.capacity) }

// Protocol returns the ring's protocol.
func (r *Ring[T]) Protocol() Protocol { return r.proto }

// seqP returns the sequence word of the slot for position pos (InSlot):
// the slot's last word.
func (r *Ring[T]) seqP(pos uint64) *uint64 {
	return (*uint64)(unsafe.Add(r.slots, uintptr(pos&r.mask)*r.stride+r.stride-SlotSeqLength))
}

// msg returns the message of the slot for position pos: the slot's start.
func (r *Ring[T]) msg(pos uint64) *T {
	return (*T)(unsafe.Add(r.slots, uintptr(pos&r.mask)*r.stride))
}

// ---- producer ----

// room returns how many of the want slots from r.tail on are free (at
// most want), refreshing the cached head from shared memory only when the
// cache says there are fewer.
func (r *Ring[T]) room(want uint64) uint64 {
	if free := r.capacity - (r.tail - r.headCache); free >= want {
		return want
	}
	// SYNC: acquire of the consumer's head: the slots before it are no
	// longer read; pairs with the release store in Ring.release.
	h := atomic.LoadUint64(r.headP)
	if h > r.tail || r.tail-h > r.capacity {
		r.pfault.set(faultHead, r.tail, h)
		return 0
	}
	r.headCache = h
	return min(want, r.capacity-(r.tail-h))
}

// TryPublish copies *m into the next slot and publishes it. It returns
// false when the ring is full (or the consumer corrupted it: see ProducerErr).
// Cost: a copy of T and one release store (plus a FUTEX_WAKE if, and only
// if, the consumer is parked); the shared head is read only when the cached
// one says the ring is full (BenchmarkRingStream, batch=1; BenchmarkRingLocal).
func (r *Ring[T]) TryPublish(m *T) bool {
	t := r.tail
	if r.claimed != 0 || r.pfault.code != faultNone ||
		(t-r.headCache >= r.capacity && r.room(1) == 0) {
		return false
	}
	slot := unsafe.Add(r.slots, uintptr(t&r.mask)*r.stride)
	switch n := unsafe.Sizeof(*m); {
	case r.proto == InSlot && n <= boxedMax:
		// 16-byte moves in line: five stores a 64-byte slot, where
		// CopyLine's words take nine. Where the EPYC host's batch-1 floor
		// runs at twice its usual rate, pingpong's in-slot 64-byte stream
		// went from 27–30 to 33 M msg/s; in its usual and fast states 5–8 %
		// lower (still about twice the floor), the price of a 16-byte load
		// over a word the caller has just stored (pingpong stamps each
		// message's sequence), which waits for that store to leave the
		// store buffer: BenchmarkRingLocal/api=trypublish 7.6–8.0 → 8.7–9.2
		// ns per message, api=prebuilt (no word stamped) 7.3–7.5 → 7.0–7.2
		// (docs/benchmarks.md, "Stream sessions", tenth).
		*(*boxed[T])(slot) = *(*boxed[T])(unsafe.Pointer(m))
	case asm.CopyLineSized(int(n)):
		// A typed copy of an array T is a memmove call (see boxed); a
		// 32…64-byte T goes through asm.CopyLine instead, word moves in
		// line (its checks fold away: n is a constant for each T's shape).
		// Under Cursors boxed's 16-byte moves were slower: pingpong's
		// stream, 64 B, batch 1, 10.3 against 13.4 M msg/s (EPYC).
		asm.CopyLine(unsafe.Slice((*byte)(slot), n), unsafe.Slice((*byte)(unsafe.Pointer(m)), n))
	default:
		copyMsg((*T)(slot), m)
	}
	if r.proto != InSlot {
		r.publish(1)
		if unsafe.Sizeof(*m) > boxedMax && r.demote {
			demoteLines(slot, int(r.stride))
		}
		return true
	}
	// publish(1), inlined: the producer's cost per message decides whether
	// it runs ahead of its consumer or the two move in lockstep, a cache
	// line transfer per message (docs/benchmarks.md, "One-way stream").
	r.tail = t + 1
	// SYNC: release of the message; pairs with the acquire loads in
	// pollInSlot and ready.
	storeRelease((*uint64)(unsafe.Add(slot, r.stride-SlotSeqLength)), t+1)
	if unsafe.Sizeof(*m) > boxedMax && r.demote { // a one-line slot has nothing to gain
		demoteLines(slot, int(r.stride))
	}
	// SYNC: acquire of the consumer's parked flag, as in publish.
	if atomic.LoadUint32(r.waitersP) != 0 {
		r.wake()
	}
	return true
}

// Claim returns the next free slot for the caller to fill in place, or nil
// when the ring is full. The message is published by Commit; a second Claim
// before Commit returns the same slot. Zero-copy: write the fields straight
// into shared memory. The slot still holds an old message: set every field.
func (r *Ring[T]) Claim() *T {
	if r.claimed != 0 {
		return r.msg(r.tail)
	}
	if r.ClaimN(1) == 0 {
		return nil
	}
	return r.msg(r.tail)
}

// ClaimN makes the pending claim up to n consecutive free slots for the
// caller to fill with Claimed(0…k-1), and returns k, the whole claim's
// size: n counts the slots claimed already, so a claim of 4 pending grows
// to 6 with ClaimN(6), and ClaimN(2) or ClaimN(0) leaves it at 4 (never
// shrunk). k is 0 when nothing was pending and the ring is full, or the
// producer stopped (ProducerErr). Commit publishes them all. (Log.ClaimN's
// k is the records to add, after those claimed already.)
func (r *Ring[T]) ClaimN(n int) int {
	if r.pfault.code != faultNone {
		return 0
	}
	if n <= 0 {
		return int(r.claimed)
	}
	want := min(uint64(n), r.capacity)
	if want > r.claimed {
		r.claimed = r.room(want)
	}
	return int(r.claimed)
}

// Claimed returns the i-th slot of the pending claim (0 ≤ i < the count
// ClaimN returned), or nil out of that range.
func (r *Ring[T]) Claimed(i int) *T {
	if i < 0 || uint64(i) >= r.claimed {
		return nil
	}
	return r.msg(r.tail + uint64(i))
}

// Commit publishes every claimed slot, in order. Without a claim it does
// nothing. Cost: one release store for the batch (Cursors); one store per
// slot, of which the first is the release (InSlot).
func (r *Ring[T]) Commit() {
	if k := r.claimed; k != 0 {
		r.claimed = 0
		r.publish(k)
		if r.demote {
			r.demoteSlots(r.tail-k, k)
		}
	}
}

// Abort drops the pending claim: nothing is published.
func (r *Ring[T]) Abort() { r.claimed = 0 }

// publish makes the k messages from r.tail on visible and advances r.tail.
func (r *Ring[T]) publish(k uint64) {
	t := r.tail
	r.tail = t + k
	if r.proto == InSlot {
		// Later slots first, with plain stores; the consumer reads slot t
		// first, and the release store of its sequence below orders all of
		// these (and every message) before it.
		for p := t + 1; p < t+k; p++ {
			*r.seqP(p) = p + 1
		}
		// SYNC: release of the batch; pairs with the acquire load in Ring.ready.
		storeRelease(r.seqP(t), t+1)
	}
	if r.proto == Cursors {
		// SYNC: release of the messages before tail; pairs with the
		// acquire load of tail in Ring.ready. (InSlot does not write the
		// tail: the sequence words say it, see publishedTo.)
		storeRelease(r.tailP, r.tail)
	}
	// SYNC: acquire of the consumer's parked flag; pairs with the store in
	// parkOn. The store above may still sit in the store buffer when this
	// load runs: parkOn's heavyFence (or, without it, storeRelease's XCHG)
	// is what makes park/wake lose no wake-up.
	if atomic.LoadUint32(r.waitersP) != 0 {
		r.wake()
	}
}

// SetDemote sets whether this producer moves the lines of each slot it
// publishes out of its own caches into the shared last-level cache
// (asm.Demote, CLDEMOTE) right after the publishing store, so that the
// consumer reads them from there rather than from this core. It is for
// request and response, where a consumer waits for each message: on the
// EMR host of docs/benchmarks.md the p50 of a round trip of two in-slot
// Rings went from 465 to 370 ns at 128 bytes, 543 to 446 ns at 256 and
// 818 to 718 ns at 1 KiB (pingpong -demote, medians of five single
// rounds interleaved), and a C program doing the same gains as much.
// Never for a stream: there the producer pays for every line it demotes
// and loses three quarters of its rate (a build that demoted every
// publish, 1 KiB one at a time: 12.4–13.1 → 3.1–3.3 M msg/s). TryPublish
// demotes only messages of more than one line (a 64-byte slot gains
// nothing); Commit demotes every slot it publishes. Where the CPU does
// not report CLDEMOTE (asm.HasDemote) and off amd64 it changes nothing.
// Producer side, set-up only: not concurrently with a publish.
func (r *Ring[T]) SetDemote(on bool) { r.demote = on }

// demoteSlots demotes the lines of the k slots from position t on, in
// one or two stretches (the ring may wrap between them).
func (r *Ring[T]) demoteSlots(t, k uint64) {
	i := t & r.mask
	first := min(k, r.capacity-i)
	demoteLines(unsafe.Add(r.slots, uintptr(i)*r.stride), int(uintptr(first)*r.stride))
	if k > first {
		demoteLines(r.slots, int(uintptr(k-first)*r.stride))
	}
}

// demoteLines is asm.Demote; tests record the stretches instead.
var demoteLines = asm.Demote

// storeRelease is a publishing store: a plain MOV (asm.StoreRelease64)
// when parking consumers issue the heavy fence, else a sequentially
// consistent XCHG. See fence_linux.go for the figures.
func storeRelease(p *uint64, v uint64) {
	if asymmetricFence {
		asm.StoreRelease64(p, v)
		return
	}
	atomic.StoreUint64(p, v)
}

// wake bumps the signal word and wakes a parked consumer.
func (r *Ring[T]) wake() {
	// SYNC: release; the consumer's FUTEX_WAIT compares the signal word.
	atomic.AddUint32(r.signalP, 1)
	futexWake(r.signalP)
	r.wakes++
}

// Wakes returns how many FUTEX_WAKE calls this producer has made.
func (r *Ring[T]) Wakes() uint64 { return r.wakes }

// ProducerErr returns nil, or an error wrapping ErrCorrupt that says which
// value the consumer wrote made the producer stop.
func (r *Ring[T]) ProducerErr() error { return r.pfault.err() }

// ---- consumer ----

// ready reports whether the message at r.head is published. It validates
// what it reads: a value no correct producer could write sets a fault.
func (r *Ring[T]) ready() bool {
	h := r.head
	if r.proto == InSlot {
		// SYNC: acquire of the message; pairs with the release in publish.
		seq := atomic.LoadUint64(r.seqP(h))
		if seq == h+1 {
			return true
		}
		// Not ready: the slot must still hold the previous lap (or nothing).
		if (h >= r.capacity && seq != h+1-r.capacity) || (h < r.capacity && seq != 0) {
			r.cfault.set(faultSeq, h, seq)
		}
		return false
	}
	if h != r.tailCache {
		return true
	}
	// SYNC: acquire of the messages before tail; pairs with the release in publish.
	t := atomic.LoadUint64(r.tailP)
	if t < h || t-h > r.capacity {
		r.cfault.set(faultTail, h, t)
		return false
	}
	r.tailCache = t
	return t != h
}

// release tells the producer the slots before r.head are free. A plain
// release store (a MOV on amd64), not an XCHG: no producer parks on the
// head, so nothing here needs a store-load barrier, and the consumer does
// not drain its store buffer once per Poll (BenchmarkRingStream).
func (r *Ring[T]) release() {
	// SYNC: release of the consumed slots; pairs with the acquire in room.
	asm.StoreRelease64(r.headP, r.head)
}

// TryConsume calls fn with the next message, if one is ready, and frees its
// slot. The pointer is into shared memory and valid only during fn; a
// hostile producer may change the message while fn reads it, so validate
// what you use. Cost: one acquire load and one release store.
func (r *Ring[T]) TryConsume(fn func(*T)) bool {
	if r.cfault.code != faultNone || !r.ready() {
		return false
	}
	fn(r.msg(r.head))
	r.head++
	r.release()
	return true
}

// Poll calls fn for up to max ready messages, in order, and frees their
// slots: smart batching, one release store when it returns and one every
// freeEvery (64) positions (InSlot), or one each time it has read all that
// the tail it last loaded showed (Cursors).
// It returns how many it handled. max ≤ 0 means no limit but the ring's
// capacity. Cost per message: one acquire load and the call to fn
// (BenchmarkRingStream); under Cursors the tail is loaded only when the
// messages it last showed are used up, and a consumer 2 KiB or more
// behind prefetches the published slots (of up to 512 bytes) ahead of
// the one it reads (readAhead: a call per 512 bytes).
func (r *Ring[T]) Poll(max int, fn func(*T)) int {
	if r.cfault.code != faultNone {
		return 0
	}
	if max <= 0 || uint64(max) > r.capacity {
		max = int(r.capacity)
	}
	if r.proto != InSlot {
		return r.pollCursors(max, fn)
	}
	n := r.pollInSlot(max, fn)
	if n > 0 {
		r.release()
	}
	return n
}

// freeEvery: an InSlot Poll frees the slots it has read at every position
// that is a multiple of freeEvery, not only when it returns, so that a
// producer waiting for room is not held up for a whole drain of up to the
// ring's capacity. On the Xeon host (family 6 model 207), pingpong -mode
// throughput -protocol inslot -rounds 3, three runs each beside a build
// without it: 64 B batch 64 61–70 → 76–102 M msg/s, batch 1 34–43 →
// 43–49 M, 1 KiB batch 1 6.2–9.5 → 8.8–9.5 M; every 256 gained less.
// (A Cursors Poll frees before each tail reload instead; freeing every 64
// there as well moved nothing.)
const freeEvery = 64

// pollInSlot is Poll's loop for InSlot: ready's check, inlined; it frees
// what it has read every freeEvery positions.
func (r *Ring[T]) pollInSlot(max int, fn func(*T)) int {
	h := r.head
	n := 0
	for n < max {
		slot := unsafe.Add(r.slots, uintptr(h&r.mask)*r.stride)
		// SYNC: acquire of the message; pairs with the release in publish.
		seq := atomic.LoadUint64((*uint64)(unsafe.Add(slot, r.stride-SlotSeqLength)))
		if seq != h+1 {
			r.ready() // checks what the slot holds: a fault if no producer could write it
			return n
		}
		fn((*T)(slot))
		h++
		r.head = h
		n++
		if h%freeEvery == 0 {
			r.release()
		}
	}
	return n
}

// pollCursors is Poll's loop for Cursors. It reloads the tail only when
// it has read up to the cached one, and frees what it has read before
// each reload, not once at the end: a producer waiting for room then
// waits for one stretch the tail showed, not for a whole drain of up to
// the ring's capacity (as floor_stream's consumer does). On the Xeon
// host, pingpong -mode throughput -protocol cursors -rounds 3, 4 KiB at
// batch 64 went from 2.9–4.0 to 3.6–4.1 M msg/s (0.75–1.04 → 1.00–1.11 ×
// the floor), 64 B at batch 64 from 76–80 to 90–106 M and at batch 1 from
// 17–21 to 25–30 M (level, 21–22 M, in three confirming pairs). It
// prefetches the published slots ahead of the one it reads (readAhead).
func (r *Ring[T]) pollCursors(max int, fn func(*T)) int {
	h, t := r.head, r.tailCache
	freed := h // the head as last released
	pf := h    // the prefetched slots end here
	n := 0
	for n < max {
		if h == t {
			if h != freed {
				r.release() // r.head == h
				freed = h
			}
			if !r.ready() { // reloads the tail
				return n
			}
			t = r.tailCache
		}
		if r.ra.due(pf, h, t) {
			pf = readAhead(r.slots, r.stride, r.mask, pf, h, t, r.ra)
		}
		fn(r.msg(h))
		h++
		r.head = h
		n++
	}
	if h != freed {
		r.release()
	}
	return n
}

// Err returns nil, or an error wrapping ErrCorrupt that says which value
// the producer wrote made the consumer stop. Once set, TryConsume and Poll
// return nothing: drop the connection.
func (r *Ring[T]) Err() error { return r.cfault.err() }

// Len returns how many messages are published and not yet consumed, as the
// shared cursors say now: exact for a quiescent ring, a snapshot otherwise.
// It returns 0 for cursors no correct pair could write.
func (r *Ring[T]) Len() int {
	h := atomic.LoadUint64(r.headP)
	if r.proto == InSlot {
		return int(r.publishedTo(h) - h)
	}
	t := atomic.LoadUint64(r.tailP)
	if t < h || t-h > r.capacity {
		return 0
	}
	return int(t - h)
}

// Cursors returns the ring's shared positions now: head, the messages
// consumed, and tail, the messages published, since the ring was made —
// counters an observer (package stat) turns into rates and backlog. Safe
// from any goroutine: atomic loads only (for InSlot, publishedTo's
// log2(capacity) loads). A snapshot; bounded by capacity, never corrupt.
func (r *Ring[T]) Cursors() (head, tail uint64) {
	head = atomic.LoadUint64(r.headP)
	return head, head + uint64(r.Len())
}

// publishedTo returns, for InSlot, where the messages published from
// position h on end: the first position p in [h, h+capacity] whose slot
// does not hold sequence p+1. The producer publishes in order, so the
// slots from h on that hold their sequence are a prefix, found by binary
// search: log2(capacity) acquire loads. InSlot producers do not write the
// tail cursor — one store per commit fewer (BenchmarkRingLocal) — so this
// is how Len, and a producer or consumer opening the ring, learn it. A
// hostile producer can only make it return another position in range.
func (r *Ring[T]) publishedTo(h uint64) uint64 {
	lo, hi := h, h+r.capacity
	for lo < hi {
		mid := lo + (hi-lo)/2
		// SYNC: acquire of the message at mid; pairs with the release in publish.
		if atomic.LoadUint64(r.seqP(mid)) == mid+1 {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return lo
}

// Ready reports whether TryConsume would find a message now: one acquire
// load, no side effect but refreshing caches. For spin loops and Park.
func (r *Ring[T]) Ready() bool { return r.cfault.code == faultNone && r.ready() }
