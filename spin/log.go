package spin

import (
	"encoding/binary"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/spinwire/spinwire/asm"
	"github.com/spinwire/spinwire/internal/msg"
)

// Log region: the same four 128-byte header blocks as a Ring (see ring.go
// for the blocks' owners), then Capacity bytes of records.
//
//	+---------------------------------------------------------------+
//	|                 Magic "SPINLOG1" (uint64 LE)                  |   0  block 0: creator, read-only
//	+-------------------------------+-------------------------------+
//	|            Version            |           reserved            |   8
//	+-------------------------------+-------------------------------+
//	|                  Capacity (bytes, uint64)                     |  16
//	+---------------------------------------------------------------+
//	|              Tail Position (bytes, uint64)                    | 128  block 1: producer
//	|      Signal (futex word)      |                               | 136
//	+---------------------------------------------------------------+
//	|              Head Position (bytes, uint64)                    | 256  block 2: consumer
//	+---------------------------------------------------------------+
//	|     Waiters (uint32 flag)     |                               | 384  block 3: consumer, when parking,
//	+---------------------------------------------------------------+      opening or closing
//	|      Consumer Claim (uint64: pid, start time; see claim.go)   | 448
//	+---------------------------------------------------------------+
//	|                          Records                             ... 512
//
// Record (8-byte aligned; the next record starts at the next multiple of 8):
//
//	+-------------------------------+-------------------------------+
//	|       Length (payload bytes)  |             Type              |
//	+-------------------------------+-------------------------------+
//	|                    Payload, Length bytes                     ...
//
// A record never wraps: when it does not fit before the end of the buffer
// the producer writes a padding record (Type PaddingType) over the rest and
// starts the record at offset 0. Payloads are at most Capacity/8 bytes.
const (
	LogMagicOffset     = 0                   // uint64: LogMagic
	LogVersionOffset   = 8                   // uint32: LogVersion
	LogCapacityOffset  = 16                  // uint64: bytes of records, a power of two
	LogHeaderLength    = RingHeaderLength    // the Ring's four blocks; Tail, Signal, Head, Waiters at the Ring's offsets
	RecordHeaderLength = 8                   // Length uint32, Type uint32
	RecordLengthOffset = 0                   // within a record: uint32 payload bytes
	RecordTypeOffset   = 4                   // within a record: uint32 type
	LogMagic           = 0x31474f4c_4e495053 // "SPINLOG1" as little-endian uint64
	LogVersion         = 2                   // bumped on any incompatible change
	PaddingType        = 0                   // record type that fills the end of the buffer
	MaxRecordType      = 1<<31 - 1           // user types are 1…MaxRecordType
	DefaultRecordType  = 1                   // the type Claim and TryWrite use
	MinLogCapacity     = 1 << 6              // bytes
	MaxLogCapacity     = 1 << 30             // bytes
	recordAlign        = 8
)

// LogLength returns the bytes a Log of capacity record bytes needs.
func LogLength(capacity int) (int, error) {
	if capacity < MinLogCapacity || capacity > MaxLogCapacity || capacity&(capacity-1) != 0 {
		return 0, msg.Errorf("%w: capacity=%d (want a power of two in %d…%d)", ErrInvalidCapacity, capacity, MinLogCapacity, MaxLogCapacity)
	}
	return LogHeaderLength + capacity, nil
}

// Log is a single-producer, single-consumer ring of variable-length byte
// records in shared memory, for what a fixed layout cannot carry. As with
// Ring, each process makes its own Log over the region and uses one side.
type Log struct {
	logShared

	// Producer-local.
	tail      uint64 // next byte position to write
	headCache uint64
	pending   uint64     // tail after the claimed record; 0 if none
	first     uint64     // the length of the batch's first claim (Commit's prefetch)
	runs      []claimRun // race-detector builds: ClaimN's runs in this batch (checkRuns)
	pfault    fault
	wakes     uint64
	_         [64]byte

	// Consumer-local.
	head      uint64
	tailCache uint64
	cfault    fault
	claim     consumerClaim // set up and given back outside the hot path
	_         [64]byte
}

type logShared struct {
	_         [64]byte
	mem       []byte
	data      []byte // the records area, len == capacity
	tailP     *uint64
	headP     *uint64
	signalP   *uint32
	waitersP  *uint32
	capacity  uint64
	mask      uint64
	maxRecord uint64 // payload bytes
	_         [64]byte
}

// NewLog formats region as an empty Log with capacity bytes of records.
func NewLog(region []byte, capacity int) (*Log, error) {
	n, err := LogLength(capacity)
	if err != nil {
		return nil, err
	}
	if err := checkRegion(region, n); err != nil {
		return nil, err
	}
	clear(region[:LogHeaderLength])
	le := binary.LittleEndian
	le.PutUint32(region[LogVersionOffset:], LogVersion)
	le.PutUint64(region[LogCapacityOffset:], uint64(capacity))
	// SYNC: release of the header; pairs with the acquire in OpenLog.
	atomic.StoreUint64((*uint64)(unsafe.Pointer(&region[LogMagicOffset])), LogMagic)
	return bindLog(region, uint64(capacity))
}

// OpenLog opens, as its consumer, a Log another process formatted: it
// validates the header and cursors, then claims the consumer side for
// this handle until Close (see Log.ClaimConsumer). Errors wrap
// ErrBadRegion, ErrInvalidCapacity, ErrCorrupt or ErrConsumerTaken. A
// producer that did not create the Log opens it with OpenLogProducer.
func OpenLog(region []byte) (*Log, error) {
	l, err := OpenLogProducer(region)
	if err != nil {
		return nil, err
	}
	if err := l.ClaimConsumer(); err != nil {
		return nil, err
	}
	return l, nil
}

// OpenLogProducer opens, as its producer, a Log another process
// formatted, validating it as OpenLog does. It claims nothing: the
// handle's consumer methods are not for use unless ClaimConsumer succeeds.
func OpenLogProducer(region []byte) (*Log, error) {
	if err := checkRegion(region, LogHeaderLength); err != nil {
		return nil, err
	}
	// SYNC: acquire of the header; pairs with the release in NewLog.
	if m := atomic.LoadUint64((*uint64)(unsafe.Pointer(&region[LogMagicOffset]))); m != LogMagic {
		return nil, msg.Errorf("%w: magic %#016x (want \"SPINLOG1\")", ErrBadRegion, m)
	}
	le := binary.LittleEndian
	if v := le.Uint32(region[LogVersionOffset:]); v != LogVersion {
		return nil, msg.Errorf("%w: log version %d (want %d)", ErrBadRegion, v, LogVersion)
	}
	capacity := le.Uint64(region[LogCapacityOffset:])
	if capacity > MaxLogCapacity {
		return nil, msg.Errorf("%w: capacity=%d", ErrInvalidCapacity, capacity)
	}
	n, err := LogLength(int(capacity))
	if err != nil {
		return nil, err
	}
	if err := checkRegion(region, n); err != nil {
		return nil, err
	}
	return bindLog(region, capacity)
}

// ClaimConsumer makes this handle the Log's only consumer, as
// Ring.ClaimConsumer does for a ring: it takes over a dead process's
// claim, reloads the consumer's position, and returns an error wrapping
// ErrConsumerTaken, naming the pid, while another live handle holds it.
// The position the previous consumer left must be 8-byte aligned, or the
// error wraps ErrCorrupt.
func (l *Log) ClaimConsumer() error {
	if l.claim.held != 0 {
		return nil
	}
	if err := l.claim.take("OpenLogProducer"); err != nil {
		return err
	}
	// SYNC: acquire of the head the previous consumer released; the claim's
	// CAS ordered this load after that consumer's release.
	h := atomic.LoadUint64(l.headP)
	if h%recordAlign != 0 {
		l.claim.release()
		return msg.Errorf("%w: log head %d", ErrCorrupt, h)
	}
	l.head, l.tailCache = h, h
	return nil
}

// Close gives back the consumer side this handle claimed (OpenLog,
// ClaimConsumer); without a claim it does nothing. It does not unmap the
// region, and the producer methods still work.
func (l *Log) Close() { l.claim.release() }

func bindLog(region []byte, capacity uint64) (*Log, error) {
	base := unsafe.Pointer(unsafe.SliceData(region))
	l := &Log{}
	l.mem = region
	l.data = region[LogHeaderLength : LogHeaderLength+int(capacity) : LogHeaderLength+int(capacity)]
	l.tailP = (*uint64)(unsafe.Add(base, TailOffset))
	l.headP = (*uint64)(unsafe.Add(base, HeadOffset))
	l.signalP = (*uint32)(unsafe.Add(base, SignalOffset))
	l.waitersP = (*uint32)(unsafe.Add(base, WaitersOffset))
	l.capacity, l.mask, l.maxRecord = capacity, capacity-1, capacity/8
	h, t := atomic.LoadUint64(l.headP), atomic.LoadUint64(l.tailP)
	if t < h || t-h > capacity || h%recordAlign != 0 || t%recordAlign != 0 {
		return nil, msg.Errorf("%w: log head %d, tail %d, capacity %d", ErrCorrupt, h, t, capacity)
	}
	l.head, l.tailCache, l.tail, l.headCache = h, t, t, h
	l.claim.word = claimWord(region)
	return l, nil
}

// MaxRecord returns the largest payload a record may carry: Capacity/8.
func (l *Log) MaxRecord() int { return int(l.maxRecord) }

// Capacity returns the bytes of record space.
func (l *Log) Capacity() int { return int(l.capacity) }

// recordHeader is a record's header as one little-endian word: payload
// length and type, written with one store.
func recordHeader(typ uint32, n uint64) uint64 {
	return n<<(8*RecordLengthOffset) | uint64(typ)<<(8*RecordTypeOffset)
}

func recordLength(n uint64) uint64 {
	return (RecordHeaderLength + n + recordAlign - 1) &^ (recordAlign - 1)
}

// Claim returns n bytes of the next record, of DefaultRecordType, to fill
// in place; Commit publishes it. It returns nil when there is no room, or
// when n is negative or over MaxRecord. Claims before a Commit follow one
// another, and Commit publishes them all with one release store (a batch:
// BenchmarkLogStream/batch=64). To fill a 32…64-byte payload in a loop of
// claims, asm.CopyLine copies with no call (BenchmarkLogStream/line); a
// fixed-layout payload, Records. To send such a payload alone, TryWrite
// costs about half the stores of Claim, a copy and Commit.
func (l *Log) Claim(n int) []byte { return l.ClaimType(DefaultRecordType, n) }

// ClaimType is Claim for a record of type typ (1…MaxRecordType; other
// types get nil).
func (l *Log) ClaimType(typ uint32, n int) []byte {
	rec := recordLength(uint64(n))
	base := l.pending // where the record goes: after those claimed already
	if base == 0 {
		base, l.first = l.tail, rec
	}
	idx := base & l.mask
	if l.fits(typ, uint64(n), base, rec, idx) {
		h := (*[RecordHeaderLength]byte)(unsafe.Add(unsafe.Pointer(unsafe.SliceData(l.data)), idx))
		binary.LittleEndian.PutUint64(h[:], recordHeader(typ, uint64(n)))
		l.pending = base + rec
		return unsafe.Slice((*byte)(unsafe.Add(unsafe.Pointer(h), RecordHeaderLength)), n)
	}
	return l.claimSlow(typ, n, base, rec, idx)
}

// fits reports the common claim, which needs no bounds check: a valid
// one (typ-1 < MaxRecordType: 1…MaxRecordType; a negative n arrives as a
// huge uint64) whose record of rec bytes, at position base and buffer
// offset idx, fits before the end of the buffer in the room the cached
// head leaves. It inlines (BenchmarkLogLocal).
func (l *Log) fits(typ uint32, n, base, rec, idx uint64) bool {
	return n <= l.maxRecord && typ-1 < MaxRecordType && l.pfault.code == faultNone &&
		rec <= l.capacity-idx && base+rec-l.headCache <= l.capacity
}

// claimSlow is ClaimType's every other case: a bad claim, a record that
// wraps (padding first), or a head to load.
func (l *Log) claimSlow(typ uint32, n int, base, rec, idx uint64) []byte {
	if n < 0 || uint64(n) > l.maxRecord || typ == PaddingType || typ > MaxRecordType || l.pfault.code != faultNone {
		return nil
	}
	need := rec
	toEnd := l.capacity - idx
	if rec > toEnd {
		need += toEnd // padding, then the record at offset 0
	}
	if base+need-l.headCache > l.capacity && (!l.refreshHead() || base+need-l.headCache > l.capacity) {
		return nil
	}
	le := binary.LittleEndian
	pos := base
	if rec > toEnd {
		le.PutUint32(l.data[idx+RecordLengthOffset:], uint32(toEnd-RecordHeaderLength))
		le.PutUint32(l.data[idx+RecordTypeOffset:], PaddingType)
		pos += toEnd
		idx = 0
	}
	le.PutUint32(l.data[idx+RecordLengthOffset:], uint32(n))
	le.PutUint32(l.data[idx+RecordTypeOffset:], typ)
	l.pending = pos + rec
	return l.data[idx+RecordHeaderLength : idx+RecordHeaderLength+uint64(n) : idx+RecordHeaderLength+uint64(n)]
}

// refreshHead loads the consumer's head into headCache and reports true,
// or, for a head outside [tail−capacity, tail] or not 8-byte aligned,
// records the fault (ProducerErr) and reports false.
func (l *Log) refreshHead() bool {
	// SYNC: acquire of the consumer's head; pairs with Log.release.
	h := atomic.LoadUint64(l.headP)
	if h > l.tail || l.tail-h > l.capacity || h%recordAlign != 0 {
		l.pfault.set(faultHead, l.tail, h)
		return false
	}
	l.headCache = h
	return true
}

// Commit publishes the claimed records (and any padding before them): one
// release store. Without a claim it does nothing. Then it asks for the
// lines the next batch of the same size will take (prefetchNext), which a
// producer that writes batches of claims is about to write anyway: after a
// batch of two records or more, and after a lone record from 512 bytes,
// header included, to one of a 2 KiB payload (loneMin, loneMax). Not
// after a larger lone record, which the prefetch slowed by a fifth or
// more where from 1 to 2 KiB it sped it up by as much; nor after a
// smaller one, where it showed no gain (pingpong -mode throughput
// -protocol log -batch 1; docs/benchmarks.md, "One-way stream").
func (l *Log) Commit() {
	batch := l.pending - l.tail
	if l.publish() && (batch > l.first || batch-loneMin <= loneMax-loneMin) {
		l.prefetchNext(batch)
	}
}

// loneMin and loneMax bound the lone records (header included) after which
// Commit prefetches.
const (
	loneMin = 512
	loneMax = RecordHeaderLength + 2048
)

// publish is Commit without the prefetch (TryWrite's): it reports whether
// there was anything to publish.
func (l *Log) publish() bool {
	if l.pending == 0 {
		return false
	}
	if raceEnabled {
		l.checkRuns()
	}
	l.tail, l.pending = l.pending, 0
	// SYNC: release of the records before tail; pairs with the acquire in
	// Log.available. Park/wake ordering as in Ring.publish.
	storeRelease(l.tailP, l.tail)
	// SYNC: acquire of the consumer's parked flag; pairs with parkOn.
	if atomic.LoadUint32(l.waitersP) != 0 {
		l.wake()
	}
	return true
}

// wake bumps the signal word and wakes a parked consumer.
func (l *Log) wake() {
	// SYNC: release; the consumer's FUTEX_WAIT compares the signal word.
	atomic.AddUint32(l.signalP, 1)
	futexWake(l.signalP)
	l.wakes++
}

// prefetchMax and prefetchMaxLarge bound what Commit prefetches: 16 KiB
// after a batch of records of up to loneMax bytes, 4 KiB after larger
// ones. A batch of 64 records of 64 bytes is 4 KiB: when 4 KiB was the
// bound for all, less (8, 16 or 32 lines) helped that stream's slow state
// less and its fast one not at all. 16 KiB took the 1 KiB Log at batch 64
// from 0.97 to 1.07 × the floor on the Xeon host (medians of eight
// alternating pairs, faster in all eight) and the 256-byte one from 33 to
// 39 M msg/s (four pairs), but the 4 KiB one from 0.99 to 0.98 × (nine
// pairs, slower in seven, by 2 % at the median): pingpong -mode
// throughput -protocol log -batch 64; docs/benchmarks.md, "Stream
// sessions", thirteenth.
const (
	prefetchMax      = 16384
	prefetchMaxLarge = 4096
)

// prefetchMost is the prefetch bound after a batch whose first record
// (header included) is first bytes long.
func prefetchMost(first uint64) uint64 {
	if first > loneMax {
		return prefetchMaxLarge
	}
	return prefetchMax
}

// prefetchNext asks for ownership of the lines that the next batch bytes
// after the tail take (asm.PrefetchW), so that they move to this CPU
// together while the producer writes into the first of them, instead of
// one at a time as its stores reach them — as far as the cached head
// leaves room (lines the consumer may still read are not taken from it),
// and no further than the end of the buffer or prefetchMost. pingpong -mode
// throughput -protocol log -size 64 -batch 64 on the EPYC VM of
// docs/benchmarks.md, old and new alternating, medians of 39 runs in the
// host's slow state: 0.63 → 0.86 × the floor; of 8 in its fast state:
// 1.00 → 0.84 ×. One call (not inlined), a PREFETCHW per line.
func (l *Log) prefetchNext(batch uint64) {
	idx, n := prefetchSpan(l.tail, batch, l.headCache, l.capacity, prefetchMost(l.first))
	asm.PrefetchW(unsafe.Add(unsafe.Pointer(unsafe.SliceData(l.data)), idx), int(n))
}

// prefetchSpan is prefetchNext's stretch of the buffer, as an offset and
// a length: from the tail's offset, batch bytes, cut at the end of the
// buffer, at the room the head leaves (head+capacity-tail; the producer's
// cursors are checked, so tail-head ≤ capacity) and at most bytes.
func prefetchSpan(tail, batch, head, capacity, most uint64) (idx, n uint64) {
	idx = tail & (capacity - 1)
	return idx, min(batch, most, capacity-idx, head+capacity-tail)
}

// Abort drops the claimed records.
func (l *Log) Abort() {
	l.pending = 0
	if raceEnabled {
		l.runs = l.runs[:0]
	}
}

// TryWrite copies b into a record of type typ and publishes it, with any
// records claimed before it. It returns false when there is no room, or
// typ or len(b) is out of range. Ordering: b is read before the release
// store that publishes the record, so the caller may reuse b at once.
//
// Cost: with no claim pending, a record that fits before the end of the
// buffer in the room the cached head leaves makes no call for a payload of
// 32 to 64 bytes: header, asm.CopyLine, release store — about half the
// stores of ClaimN, a copy and Commit. Every other write is ClaimType,
// asm.Copy (a call) and the release store. A lone record's rate between
// two CPUs follows the producer's stores
// (pingpong -mode throughput -protocol log -batch 1; docs/benchmarks.md,
// eleventh session). It does not prefetch the next record's lines, as
// Commit does after a lone record of 512 bytes to 2 KiB: a lone record's
// next line would be asked for while a round trip's answer crosses (Log
// round trip, 1 KiB: +70 ns p50).
func (l *Log) TryWrite(typ uint32, b []byte) bool {
	n := uint64(len(b))
	rec := recordLength(n)
	idx := l.tail & l.mask
	if !asm.CopyLineSized(len(b)) || l.pending != 0 || !l.fits(typ, n, l.tail, rec, idx) {
		return l.tryWriteSlow(typ, b)
	}
	h := unsafe.Add(unsafe.Pointer(unsafe.SliceData(l.data)), idx)
	binary.LittleEndian.PutUint64((*[RecordHeaderLength]byte)(h)[:], recordHeader(typ, n))
	asm.CopyLine(unsafe.Slice((*byte)(unsafe.Add(h, RecordHeaderLength)), n), b)
	// publish's release, written again: as a helper shared with publish it
	// does not inline (cost 107, budget 80) and would be a call here.
	l.tail += rec
	// SYNC: release of the record; pairs with the acquire in Log.available.
	// Park/wake ordering as in Ring.publish.
	storeRelease(l.tailP, l.tail)
	// SYNC: acquire of the consumer's parked flag; pairs with parkOn.
	if atomic.LoadUint32(l.waitersP) != 0 {
		l.wake()
	}
	return true
}

// tryWriteSlow is TryWrite's every other case: a payload outside 32…64
// bytes, claims pending, a record across the end of the buffer, a head to
// load, or a write to refuse.
func (l *Log) tryWriteSlow(typ uint32, b []byte) bool {
	dst := l.ClaimType(typ, len(b))
	if dst == nil {
		return false
	}
	asm.Copy(dst, b)
	l.publish()
	return true
}

// ProducerErr reports a consumer cursor no correct consumer could write.
func (l *Log) ProducerErr() error { return l.pfault.err() }

// available refreshes and returns the published tail, validating it.
func (l *Log) available() uint64 {
	if l.head != l.tailCache {
		return l.tailCache
	}
	// SYNC: acquire of the records before tail; pairs with Log.Commit.
	t := atomic.LoadUint64(l.tailP)
	if t < l.head || t-l.head > l.capacity || t%recordAlign != 0 {
		l.cfault.set(faultTail, l.head, t)
		return l.head
	}
	l.tailCache = t
	return t
}

// Poll calls fn for up to max published records (max ≤ 0: all), in order,
// then frees them with one release store. b is the payload in shared
// memory, valid only during fn. Padding records are skipped and not
// counted. A record whose length or type no correct producer writes stops
// the Log with ErrCorrupt (see Err); records before it are delivered.
// A consumer 2 KiB or more behind prefetches the published bytes ahead of
// the record it reads (readAhead: a call per 512 bytes) when that record
// carries up to 512 bytes (aheadBlock), as a Ring reads ahead only of
// slots of up to 512: reading ahead of 4 KiB records cost a fifth of the
// rate (pingpong -mode throughput -protocol log -size 4096 -batch 64,
// EPYC host of docs/benchmarks.md: 3.2 M msg/s with, 3.8–4.0 without).
func (l *Log) Poll(max int, fn func(typ uint32, b []byte)) int {
	if l.cfault.code != faultNone {
		return 0
	}
	t := l.available()
	h := l.head
	n := 0
	le := binary.LittleEndian
	data := unsafe.Pointer(unsafe.SliceData(l.data))
	pf := h             // the prefetched bytes end here (readAhead)
	ra := aheadUnits(1) // inlined: constants
	for h < t && (max <= 0 || n < max) {
		idx := h & l.mask
		// Read the header once; the producer may rewrite it under us. Our
		// head is a multiple of 8 (recordAlign), so the header lies within
		// the buffer: no bounds check (BenchmarkLogLocal).
		hdr := (*[RecordHeaderLength]byte)(unsafe.Add(data, idx))
		length := uint64(le.Uint32(hdr[RecordLengthOffset:]))
		typ := le.Uint32(hdr[RecordTypeOffset:])
		if length <= aheadBlock && ra.due(pf, h, t) {
			pf = readAhead(data, 1, l.mask, pf, h, t, ra)
		}
		toEnd := l.capacity - idx
		if typ == PaddingType {
			if length+RecordHeaderLength != toEnd || h+toEnd > t {
				l.cfault.set(faultLength, h, length)
				break
			}
			h += toEnd
			continue
		}
		if typ > MaxRecordType {
			l.cfault.set(faultType, h, uint64(typ))
			break
		}
		rec := recordLength(length)
		if length > l.maxRecord || rec > toEnd || h+rec > t {
			l.cfault.set(faultLength, h, length)
			break
		}
		// rec ≤ toEnd: the payload lies within the buffer.
		fn(typ, unsafe.Slice((*byte)(unsafe.Add(data, idx+RecordHeaderLength)), length))
		h += rec
		n++
	}
	if h != l.head {
		l.head = h
		// SYNC: release of the consumed bytes; pairs with the acquire in ClaimType.
		atomic.StoreUint64(l.headP, h)
	}
	return n
}

// Ready reports whether a record (or padding) is published and unread.
func (l *Log) Ready() bool { return l.cfault.code == faultNone && l.available() != l.head }

// Park sleeps until the producer commits or d passes; see Parker.
func (l *Log) Park(d time.Duration) { parkOn(l.signalP, l.waitersP, l.Ready, d) }

// Err reports a record or cursor no correct producer could write; once set,
// Poll returns nothing.
func (l *Log) Err() error { return l.cfault.err() }

// Cursors returns the log's shared positions now, in bytes since the log
// was made: head (consumed) and tail (published), for an observer
// (package stat). Atomic loads, safe from any goroutine; a tail behind
// the head or beyond the capacity reads as the head.
func (l *Log) Cursors() (head, tail uint64) {
	head = atomic.LoadUint64(l.headP)
	return head, head + uint64(l.Len())
}

// Len returns the published, unread bytes (records and padding), per the
// shared cursors now.
func (l *Log) Len() int {
	h, t := atomic.LoadUint64(l.headP), atomic.LoadUint64(l.tailP)
	if t < h || t-h > l.capacity {
		return 0
	}
	return int(t - h)
}
