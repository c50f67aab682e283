package main

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"os"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/spinwire/spinwire/agent"
	"github.com/spinwire/spinwire/asm"
	"github.com/spinwire/spinwire/batch"
	"github.com/spinwire/spinwire/layout"
	"github.com/spinwire/spinwire/spin"
)

// The spinwire transport: two spin.Rings (ping, pong) in one memfd
// segment for messages of 8…64 bytes in multiples of 8; two spin.Logs for
// every other size. The peer echoes on an agent.Agent pinned to its CPU; both
// sides wait with the transport's idle strategy: spinwire busy-spins,
// spinwire-backoff and spinwire-park wait with spin.Backoff and spin.Park.

func init() {
	for _, idle := range idleNames {
		register(spinwireName(idle), spinwireT{idle})
	}
}

type spinwireT struct{ idle string }

// Ring message types: m1 is 8 bytes … m8 is 64, then m16 (128 bytes) …
// m512 (4096) for Cursors, and one word less (m15 … m511) for InSlot, whose
// slot adds the 8-byte sequence. The first word is the seq.
type (
	m1 [1]uint64
	m2 [2]uint64
	m3 [3]uint64
	m4 [4]uint64
	m5 [5]uint64
	m6 [6]uint64
	m7 [7]uint64
	m8 [8]uint64

	m16  [16]uint64
	m32  [32]uint64
	m64  [64]uint64
	m128 [128]uint64
	m256 [256]uint64
	m512 [512]uint64

	m15  [15]uint64
	m31  [31]uint64
	m63  [63]uint64
	m127 [127]uint64
	m255 [255]uint64
	m511 [511]uint64
)

// ringSize reports whether -size travels in Ring slots (else: Log
// records): -protocol log never does; otherwise multiples of 8 up to 64,
// and the powers of two from 128 to 4096 — fixed-size messages are a
// Ring's job, as they are the floor's; the Log is for variable lengths.
func ringSize(c *config) bool {
	switch {
	case c.Protocol == "log" || c.Protocol == "records" || c.Size%8 != 0:
		return false
	case c.Size <= 64:
		return true
	}
	return c.Size <= 4096 && c.Size&(c.Size-1) == 0
}

// ringWords returns the uint64 words of the Ring's message type for -size.
// -size counts a message's bytes in shared memory, the transport's own
// header included — as floor_stream counts its 64-byte slots of a
// sequence and 56 bytes of body — so under InSlot T is size-8 bytes (at
// least one word: pingpong's seq), under Cursors it is size bytes.
func ringWords(c *config) int {
	if protocol(c) == spin.InSlot {
		return max(c.Size/8-1, 1)
	}
	return c.Size / 8
}

// logPayload returns the payload bytes of a -size Log record: size less
// the 8-byte record header, at least pingpong's 8-byte seq.
func logPayload(c *config) int { return max(c.Size-spin.RecordHeaderLength, 8) }

func (t spinwireT) open(c *config) (end, []*os.File, error) {
	if !ringSize(c) {
		return openLogs(c, t.idle)
	}
	return ringOps(c).open(c, t.idle)
}

func (t spinwireT) serve(c *config, files []*os.File) error {
	if len(files) != 1 {
		return errors.New("want one segment fd")
	}
	if !ringSize(c) {
		return serveLogs(c, t.idle, files[0])
	}
	return ringOps(c).serve(c, t.idle, files[0])
}

// ringOp is openRings and serveRings for one message type.
type ringOp struct {
	open  func(*config, string) (end, []*os.File, error)
	serve func(*config, string, *os.File) error
}

func opFor[T any]() ringOp { return ringOp{openRings[T], serveRings[T]} }

// ringOpsByWords holds the message type of each ringWords.
var ringOpsByWords = map[int]ringOp{
	1: opFor[m1](), 2: opFor[m2](), 3: opFor[m3](), 4: opFor[m4](),
	5: opFor[m5](), 6: opFor[m6](), 7: opFor[m7](), 8: opFor[m8](),
	15: opFor[m15](), 16: opFor[m16](), 31: opFor[m31](), 32: opFor[m32](),
	63: opFor[m63](), 64: opFor[m64](), 127: opFor[m127](), 128: opFor[m128](),
	255: opFor[m255](), 256: opFor[m256](), 511: opFor[m511](), 512: opFor[m512](),
}

// ringOps returns the ring operations for the run's message type.
func ringOps(c *config) ringOp { return ringOpsByWords[ringWords(c)] }

func protocol(c *config) spin.Protocol {
	switch c.Protocol {
	case "inslot":
		return spin.InSlot
	case "cursors":
		return spin.Cursors
	}
	return spin.DefaultProtocol
}

func agentMode(c *config) agent.Mode {
	if c.Agent == "dedicated" {
		return agent.Dedicated
	}
	return agent.Preemptible
}

// idlerFor returns the idle strategy, parking (if it parks) on p.
func idlerFor(idle string, p spin.Parker) spin.Idler {
	switch idle {
	case "backoff":
		return &spin.Backoff{Parker: p}
	case "park":
		return &spin.Park{Parker: p, Timeout: 10 * time.Millisecond}
	}
	return spin.BusySpin{}
}

// producerIdler is how a stream's producer waits for room in a full ring:
// there is no futex to park on for that (a Ring parks its consumer only),
// so spin busy-spins and the others yield the CPU.
func producerIdler(idle string) spin.Idler {
	if idle == "spin" {
		return spin.BusySpin{}
	}
	return spin.Yield{}
}

// waiter bounds a wait loop: it idles and, every 4096 calls, checks the
// deadline against the TSC.
type waiter struct {
	idler    spin.Idler
	limit    uint64 // timeout in ticks
	start, n uint64
	aborted  *atomic.Bool // set by abort (another goroutine)
}

func newWaiter(c *config, idler spin.Idler) waiter {
	return waiter{idler: idler, limit: uint64(c.Timeout.Seconds() * asm.TicksPerSecond()), aborted: new(atomic.Bool)}
}

// wait idles once; it returns false when the deadline has passed or the
// end was aborted.
func (w *waiter) wait() bool {
	if w.n == 0 {
		w.start = asm.Ticks()
	}
	w.n++
	w.idler.Idle(0)
	return !w.aborted.Load() && (w.n&4095 != 0 || asm.Ticks()-w.start < w.limit)
}

func (w *waiter) reset() {
	w.n = 0
	w.idler.Reset()
}

var errTimeout = errors.New("peer stopped answering (timeout)")

// awaitAck polls for the peer's acknowledgement of a stream until poll
// finds it or w gives up. The peer exits as soon as it has acknowledged,
// and the round's watchdog aborts w when it sees that exit — which, on a
// host that stalls this thread for a while, can come between a poll that
// found nothing and the ack's arrival. So one more poll after w gives up
// tells an ack that came just before the peer's exit from a peer that
// stopped without one.
func awaitAck(w *waiter, poll func() bool) error {
	for !poll() {
		if !w.wait() {
			if poll() {
				return nil
			}
			return errTimeout
		}
	}
	return nil
}

// ---- rings ----

type ringEnd[T any] struct {
	seg        *layout.Segment
	ping, pong *spin.Ring[T]
	msg, reply T
	recv       func(*T)
	w          waiter // for an echo (parks on pong)
	full       waiter // for room in ping (stream)
	c          *config
}

func seqOf[T any](m *T) *uint64 { return (*uint64)(unsafe.Pointer(m)) }

func ringRegions[T any](c *config, body []byte) (ping, pong []byte, err error) {
	n, _, err := spin.RingLength[T](c.Slots, protocol(c))
	if err != nil {
		return nil, nil, err
	}
	return twoRegions(body, n, "rings")
}

// twoRegions cuts ping and pong regions of n bytes out of a segment body of
// at least twoLength(n), pong starting on the first 128-byte boundary after
// ping: a region's blocks then keep to 128-byte pairs of lines of their own
// (RingLength is a multiple of 64 only), which the adjacent-line prefetcher
// moves together. At 256 bytes, single rounds interleaved (EMR): the round
// trip's ratio to the floor 1.29 → 1.24 (docs/benchmarks.md).
func twoRegions(body []byte, n int, what string) (ping, pong []byte, err error) {
	if len(body) < twoLength(n) {
		return nil, nil, fmt.Errorf("segment body %d bytes, %s need %d", len(body), what, twoLength(n))
	}
	off := pongOffset(n)
	return body[:n], body[off : off+n], nil
}

// pongOffset is where twoRegions starts pong after a ping of n bytes.
func pongOffset(n int) int { return (n + 127) &^ 127 }

// twoLength is the segment body that twoRegions needs for regions of n bytes.
func twoLength(n int) int { return pongOffset(n) + n }

func openRings[T any](c *config, idle string) (end, []*os.File, error) {
	n, _, err := spin.RingLength[T](c.Slots, protocol(c))
	if err != nil {
		return nil, nil, err
	}
	fp := layout.MustOf[T]().Fingerprint
	seg, err := layout.Create(twoLength(n), layout.Options{Fingerprint: fp})
	if err != nil {
		return nil, nil, err
	}
	pingR, pongR, _ := ringRegions[T](c, seg.Body())
	opts := spin.RingOptions{Capacity: c.Slots, Protocol: protocol(c)}
	e := &ringEnd[T]{seg: seg, c: c}
	if e.ping, err = spin.NewRing[T](pingR, opts); err == nil {
		e.pong, err = spin.NewRing[T](pongR, opts)
	}
	if err != nil {
		seg.Close()
		return nil, nil, err
	}
	e.ping.SetDemote(c.Demote)
	e.recv = func(m *T) { e.reply = *m }
	e.w = newWaiter(c, idlerFor(idle, e.pong))
	e.full = newWaiter(c, producerIdler(idle))
	e.full.aborted = e.w.aborted
	f, err := dupFile(seg.Fd(), "spinwire-segment")
	if err != nil {
		seg.Close()
		return nil, nil, err
	}
	if c.Stat {
		watchRings(e.ping, e.pong) // until stop
	}
	return e, []*os.File{f}, nil
}

func (e *ringEnd[T]) roundTrip(seq uint64) error {
	*seqOf(&e.msg) = seq
	if !e.ping.TryPublish(&e.msg) && !retryFull(func() bool { return e.ping.TryPublish(&e.msg) }, e.w.limit) {
		if err := e.ping.ProducerErr(); err != nil {
			return err
		}
		return fmt.Errorf("ping ring full at seq %d for the whole -timeout", seq)
	}
	e.w.reset()
	for !e.pong.TryConsume(e.recv) {
		if err := e.pong.Err(); err != nil {
			return err
		}
		if !e.w.wait() {
			return errTimeout
		}
	}
	if got := *seqOf(&e.reply); got != seq {
		return fmt.Errorf("echo carried seq %d, sent %d", got, seq)
	}
	return nil
}

// stream sends n messages, batchSize per publish: with TryPublish one at a
// time (what a producer of single messages calls), else through a
// batch.Publisher (Claim, Slot, Commit).
func (e *ringEnd[T]) stream(n, batchSize int) error {
	pub := batch.NewPublisher(e.ping)
	e.w.reset()
	seq := 0
	wide := unsafe.Sizeof(e.msg) >= spin.WideCopy // as in serveRings
	if batchSize == 1 {
		if err := e.streamOne(n); err != nil {
			return err
		}
		seq = n
	}
	for seq < n {
		k := pub.Claim(min(batchSize, n-seq))
		if k == 0 {
			if err := e.ping.ProducerErr(); err != nil {
				return err
			}
			if !e.full.wait() {
				return errTimeout
			}
			continue
		}
		e.full.reset()
		for i := range k {
			m := pub.Slot(i)
			if wide {
				// Stamped in the source, then copied: the slot written
				// once, as floor_stream does (stamping the slot after
				// the copy cost the 1 KiB cursors row at batch 64 a
				// tenth of its rate: docs/benchmarks.md, "Stream
				// sessions", thirteenth).
				*seqOf(&e.msg) = uint64(seq + i)
				e.ping.Copy(m, &e.msg)
				continue
			}
			*m = e.msg
			*seqOf(m) = uint64(seq + i)
		}
		pub.Commit()
		seq += k
	}
	if err := awaitAck(&e.w, func() bool { return e.pong.TryConsume(e.recv) }); err != nil {
		return err
	}
	if got := *seqOf(&e.reply); got != uint64(n) {
		return fmt.Errorf("peer confirmed %d of %d messages in order (%#x)", got&^(1<<63), n, got)
	}
	return nil
}

// streamOne sends n messages with TryPublish.
func (e *ringEnd[T]) streamOne(n int) error {
	for seq := 0; seq < n; {
		*seqOf(&e.msg) = uint64(seq)
		if e.ping.TryPublish(&e.msg) {
			if e.full.n != 0 { // only after a wait: reset is an interface call
				e.full.reset()
			}
			seq++
			continue
		}
		if err := e.ping.ProducerErr(); err != nil {
			return err
		}
		if !e.full.wait() {
			return errTimeout
		}
	}
	return nil
}

// abort makes a waiting roundTrip give up at its next idle.
func (e *ringEnd[T]) abort() { e.w.aborted.Store(true) }

func (e *ringEnd[T]) trySend(seq uint64) (bool, error) {
	*seqOf(&e.msg) = seq
	if e.ping.TryPublish(&e.msg) {
		return true, nil
	}
	return false, e.ping.ProducerErr()
}

func (e *ringEnd[T]) tryRecv() (uint64, bool, error) {
	if e.pong.TryConsume(e.recv) {
		return *seqOf(&e.reply), true, nil
	}
	return 0, false, e.pong.Err()
}

// window: the pong ring holds every echo in flight, so it never fills.
func (e *ringEnd[T]) window() int { return min(e.ping.Capacity(), e.pong.Capacity()) }

func (e *ringEnd[T]) stop() error {
	defer e.seg.Close()
	defer unwatchRings() // before the rings are unmapped
	if e.c.Mode != "throughput" {
		return e.roundTrip(stopSeq)
	}
	return nil
}

// serveRings is the peer's side over two Rings: it echoes every message
// (latency, rate) or counts a stream and acknowledges the count
// (throughput).
func serveRings[T any](c *config, idle string, f *os.File) error {
	seg, err := openSegment(f, layout.MustOf[T]().Fingerprint)
	if err != nil {
		return err
	}
	pingR, pongR, err := ringRegions[T](c, seg.Body())
	if err != nil {
		return err
	}
	ping, err := spin.OpenRing[T](pingR)
	if err != nil {
		return err
	}
	pong, err := spin.OpenRingProducer[T](pongR) // the peer produces pong; the parent consumes it
	if err != nil {
		return err
	}
	pong.SetDemote(c.Demote)
	s := newPeerServer(c)
	if c.Mode != "throughput" {
		echo := func(m *T) {
			if !pong.TryPublish(m) && !retryFull(func() bool { return pong.TryPublish(m) }, s.limit) {
				s.fail = errors.New("pong ring full for the whole -timeout")
			}
			if *seqOf(m) == stopSeq {
				s.stop()
			}
		}
		s.poll = func() int { return ping.Poll(0, echo) }
	} else {
		// The consumer copies each message out, as a real one reads what
		// it was sent, and as floor_stream's consumer does.
		var cp T
		// From 1 KiB on with Ring.Copy (the CPU's widest moves); below,
		// the typed copy here inlines, where Ring.Copy's becomes a call.
		wide := unsafe.Sizeof(cp) >= spin.WideCopy
		count := func(m *T) {
			if wide {
				ping.Copy(&cp, m)
			} else {
				cp = *m
			}
			s.count(*seqOf(&cp), true)
		}
		s.poll = func() int { return ping.Poll(0, count) }
		s.ack = func(done uint64) bool {
			var m T
			*seqOf(&m) = done
			return pong.TryPublish(&m) || retryFull(func() bool { return pong.TryPublish(&m) }, s.limit)
		}
	}
	return s.run(idlerFor(idle, ping), ping.Err)
}

// peerServer is what serveRings and serveLogs share: the duty that echoes
// or counts on a pinned agent, and how it ends. Only the agent's goroutine
// touches it while it runs.
type peerServer struct {
	c      *config
	ctx    context.Context
	cancel func()
	limit  uint64 // -timeout in ticks: how long an echo may wait for room
	fail   error
	seen   bool              // the serving thread's CPU was recorded
	poll   func() int        // takes what the ping side holds, echoing or counting it
	ack    func(uint64) bool // throughput: publishes the count on the pong side; false when it found no room for the whole -timeout
	n      uint64            // throughput: the messages of the round
	next   uint64            // throughput: the seq expected next
	acked  bool              // the count went out: cancel's stop flag is set asynchronously, so duty runs on a little
	drains uint64            // throughput: polls that took something
}

func newPeerServer(c *config) *peerServer {
	ctx, cancel := context.WithCancel(context.Background())
	return &peerServer{c: c, ctx: ctx, cancel: cancel, limit: uint64(c.Timeout.Seconds() * asm.TicksPerSecond()),
		n: uint64(c.perRound())}
}

// run serves until the stop message, the count, or the parent's death, and
// returns the first failure: the agent's, the ping side's (err), its own.
func (s *peerServer) run(idler spin.Idler, err func() error) error {
	defer s.cancel()
	go watchdog(s.ctx, s.cancel, s.c)
	duty := s.echo
	if s.c.Mode == "throughput" {
		duty = s.countDuty
	}
	a := &agent.Agent{Name: "pingpong-peer", Mode: agentMode(s.c), Logf: func(string, ...any) {}}
	if e := a.Run(s.ctx, s.c.CPUs[1], idler, duty); e != nil {
		return e
	}
	if e := err(); e != nil {
		return e
	}
	return s.fail
}

// see records the serving thread's CPU the first time.
func (s *peerServer) see() {
	if !s.seen {
		s.seen = true
		peerCPU.see()
	}
}

// stop ends serving at the stop message, recording the CPU at the end.
func (s *peerServer) stop() {
	peerCPU.see()
	s.cancel()
}

// echo is the latency and rate modes' duty.
func (s *peerServer) echo() int {
	if s.fail != nil {
		return 0
	}
	s.see()
	return s.poll()
}

// count checks that a stream's message carries the next seq (ok: it
// carries one at all). It inlines, as floor_stream's check does; the
// failure is outOfOrder's.
func (s *peerServer) count(seq uint64, ok bool) {
	if !ok || seq != s.next {
		s.outOfOrder(seq)
	}
	s.next++
}

// outOfOrder records the first message that did not carry the next seq.
func (s *peerServer) outOfOrder(seq uint64) {
	if s.fail == nil {
		s.fail = fmt.Errorf("message %d out of order (seq %d)", s.next, seq)
	}
}

// countDuty is the throughput mode's duty: take the stream and, once all n
// messages are in, acknowledge the count (its top bit set on a failure).
func (s *peerServer) countDuty() int {
	if s.acked {
		return 0
	}
	s.see()
	k := s.poll()
	if k > 0 {
		s.drains++
	}
	if s.next >= s.n {
		s.acked = true
		peerDrains.Store(s.drains)
		done := s.next
		if s.fail != nil {
			done |= 1 << 63
		}
		if !s.ack(done) && s.fail == nil {
			s.fail = errors.New("pong side full for the whole -timeout: the count went unacknowledged")
		}
		s.stop()
	}
	return k
}

// watchdog ends a peer whose parent has gone (the kernel's death signal
// covers most cases; this covers a stuck parent).
func watchdog(ctx context.Context, cancel func(), c *config) {
	ppid := os.Getppid()
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if os.Getppid() != ppid {
				cancel()
				return
			}
		}
	}
}

// ---- logs (sizes that are not a Ring slot) ----

const logType = 1

func logCapacity(c *config) int {
	rec := (logPayload(c) + spin.RecordHeaderLength + 7) &^ 7
	want := max(8*logPayload(c), min(c.Slots*rec, 16<<20), spin.MinLogCapacity)
	return 1 << bits.Len(uint(want-1))
}

// typedRecord is -protocol records' payload: a 64-byte record's 56 bytes.
type typedRecord [7]uint64

type logEnd struct {
	seg        *layout.Segment
	ping, pong *spin.Log
	recs       *spin.Records[typedRecord] // -protocol records: the stream's
	tpl        typedRecord                // … and what it copies in (msg's bytes)
	msg        []byte
	got        uint64
	recv       func(uint32, []byte)
	w          waiter // for an echo (parks on pong)
	full       waiter // for room in ping (stream)
	c          *config
}

// logFingerprint marks a segment laid out as two Logs.
const logFingerprint = 0x6c6f67_6c6f6732 // "log" "log2"

func logRegions(c *config, body []byte) (ping, pong []byte, err error) {
	n, err := spin.LogLength(logCapacity(c))
	if err != nil {
		return nil, nil, err
	}
	return twoRegions(body, n, "logs")
}

func openLogs(c *config, idle string) (end, []*os.File, error) {
	n, err := spin.LogLength(logCapacity(c))
	if err != nil {
		return nil, nil, err
	}
	seg, err := layout.Create(twoLength(n), layout.Options{Fingerprint: logFingerprint})
	if err != nil {
		return nil, nil, err
	}
	pingR, pongR, _ := logRegions(c, seg.Body())
	e := &logEnd{seg: seg, c: c, msg: make([]byte, logPayload(c))}
	if e.ping, err = spin.NewLog(pingR, logCapacity(c)); err == nil {
		e.pong, err = spin.NewLog(pongR, logCapacity(c))
	}
	if err == nil && c.Protocol == "records" {
		var r spin.Records[typedRecord]
		r, err = spin.RecordsOf[typedRecord](e.ping, logType)
		e.recs = &r
	}
	if err != nil {
		seg.Close()
		return nil, nil, err
	}
	for i := range e.msg {
		e.msg[i] = byte(i)
	}
	copy(unsafe.Slice((*byte)(unsafe.Pointer(&e.tpl)), unsafe.Sizeof(e.tpl)), e.msg)
	e.recv = func(_ uint32, b []byte) {
		if len(b) >= 8 {
			e.got = binary.LittleEndian.Uint64(b)
		}
	}
	e.w = newWaiter(c, idlerFor(idle, e.pong))
	e.full = newWaiter(c, producerIdler(idle))
	e.full.aborted = e.w.aborted
	f, err := dupFile(seg.Fd(), "spinwire-segment")
	if err != nil {
		seg.Close()
		return nil, nil, err
	}
	return e, []*os.File{f}, nil
}

func (e *logEnd) roundTrip(seq uint64) error {
	binary.LittleEndian.PutUint64(e.msg, seq)
	if !e.ping.TryWrite(logType, e.msg) && !retryFull(func() bool { return e.ping.TryWrite(logType, e.msg) }, e.w.limit) {
		return fmt.Errorf("ping log full at seq %d for the whole -timeout", seq)
	}
	e.w.reset()
	for e.pong.Poll(1, e.recv) == 0 {
		if err := e.pong.Err(); err != nil {
			return err
		}
		if !e.w.wait() {
			return errTimeout
		}
	}
	if e.got != seq {
		return fmt.Errorf("echo carried seq %d, sent %d", e.got, seq)
	}
	return nil
}

func (e *logEnd) stream(n, batchSize int) error {
	e.w.reset()
	if batchSize == 1 && asm.CopyLineSized(len(e.msg)) {
		return e.streamOnes(n)
	}
	for seq := 0; seq < n; {
		k := e.fill(seq, min(batchSize, n-seq))
		e.ping.Commit() // the batch: one release store
		if k == 0 {
			if !e.full.wait() {
				return errTimeout
			}
			continue
		}
		e.full.reset()
		seq += k
	}
	return e.confirm(n)
}

// streamOnes is stream for a 32…64-byte message sent one at a time: each
// stamped with its sequence and sent with TryWrite (Records.TryWrite under
// -protocol records), which then makes no call and about half the stores
// of a claim, a copy and a Commit (see TryWrite). A loop of its own: the
// same through a helper per message that chose between the two ran
// slower where the host's floor runs fast (docs/benchmarks.md, eleventh
// session).
func (e *logEnd) streamOnes(n int) error {
	for seq := 0; seq < n; {
		var ok bool
		if e.recs != nil {
			e.tpl[0] = uint64(seq)
			ok = e.recs.TryWrite(&e.tpl)
		} else {
			binary.LittleEndian.PutUint64(e.msg, uint64(seq))
			ok = e.ping.TryWrite(logType, e.msg)
		}
		if !ok {
			if !e.full.wait() {
				return errTimeout
			}
			continue
		}
		e.full.reset()
		seq++
	}
	return e.confirm(n)
}

// confirm waits for the peer's count of the n records and checks it.
func (e *logEnd) confirm(n int) error {
	if err := awaitAck(&e.w, func() bool { return e.pong.Poll(1, e.recv) == 1 }); err != nil {
		return err
	}
	if e.got != uint64(n) {
		return fmt.Errorf("peer confirmed %d of %d records in order (%#x)", e.got&^(1<<63), n, e.got)
	}
	return nil
}

// fill claims up to want records after seq and fills them, by the copy
// that suits the message; it returns how many it claimed.
func (e *logEnd) fill(seq, want int) int {
	switch {
	case e.recs != nil:
		return e.fillTyped(seq, want)
	case asm.CopyLineSized(len(e.msg)):
		return e.fillLine(seq, want)
	}
	return e.fillBytes(seq, want)
}

// fillBytes claims up to want records after seq with one call (ClaimN),
// copies the message into each (asm.Copy) and stamps its sequence; it
// returns how many it claimed. A Claim per record instead cost the 256 B
// Log at batch 64 a fifth of its rate on the EPYC host (docs/benchmarks.md,
// "Stream sessions", twenty-third). (Stamping the source before the copy,
// as the Ring's stream does, measured no faster: thirteenth.)
func (e *logEnd) fillBytes(seq, want int) int {
	c := e.ping.ClaimN(spin.DefaultRecordType, len(e.msg), want)
	for i := range c.Len() {
		b := c.At(i)
		asm.Copy(b, e.msg)
		binary.LittleEndian.PutUint64(b, uint64(seq+i))
	}
	return c.Len()
}

// fillLine is fillBytes for a 32…64-byte message: each message copied
// with asm.CopyLine (moves in line instead of a memmove call), so the
// loop makes no call. A loop holding both copies behind a branch ran no
// faster than asm.Copy alone (see docs/benchmarks.md), hence a loop of
// its own.
func (e *logEnd) fillLine(seq, want int) int {
	c := e.ping.ClaimN(spin.DefaultRecordType, len(e.msg), want)
	for i := range c.Len() {
		b := c.At(i)
		asm.CopyLine(b, e.msg)
		binary.LittleEndian.PutUint64(b, uint64(seq+i))
	}
	return c.Len()
}

// fillTyped is fillLine through e.recs (-protocol records): the batch
// claimed with Records.ClaimN, each message a typed copy of the same bytes.
func (e *logEnd) fillTyped(seq, want int) int {
	c := e.recs.ClaimN(want)
	for i := range c.Len() {
		m := c.At(i)
		*m = e.tpl
		m[0] = uint64(seq + i)
	}
	return c.Len()
}

// abort makes a waiting roundTrip give up at its next idle.
func (e *logEnd) abort() { e.w.aborted.Store(true) }

func (e *logEnd) trySend(seq uint64) (bool, error) {
	binary.LittleEndian.PutUint64(e.msg, seq)
	if e.ping.TryWrite(logType, e.msg) {
		return true, nil
	}
	return false, e.ping.ProducerErr()
}

func (e *logEnd) tryRecv() (uint64, bool, error) {
	if e.pong.Poll(1, e.recv) == 1 {
		return e.got, true, nil
	}
	return 0, false, e.pong.Err()
}

// window: half the records the pong log can hold (a record that would
// wrap leaves padding), so an echo always fits; at most -slots.
func (e *logEnd) window() int {
	rec := (len(e.msg) + spin.RecordHeaderLength + 7) &^ 7
	return max(1, min(e.c.Slots, e.pong.Capacity()/rec/2))
}

func (e *logEnd) stop() error {
	defer e.seg.Close()
	if e.c.Mode != "throughput" {
		return e.roundTrip(stopSeq)
	}
	return nil
}

// serveLogs is the peer's side over two Logs: serveRings' work, in
// records.
func serveLogs(c *config, idle string, f *os.File) error {
	seg, err := openSegment(f, logFingerprint)
	if err != nil {
		return err
	}
	pingR, pongR, err := logRegions(c, seg.Body())
	if err != nil {
		return err
	}
	ping, err := spin.OpenLog(pingR)
	if err != nil {
		return err
	}
	pong, err := spin.OpenLogProducer(pongR) // the peer produces pong; the parent consumes it
	if err != nil {
		return err
	}
	s := newPeerServer(c)
	if c.Mode != "throughput" {
		echo := func(typ uint32, b []byte) {
			if !pong.TryWrite(typ, b) && !retryFull(func() bool { return pong.TryWrite(typ, b) }, s.limit) {
				s.fail = errors.New("pong log full for the whole -timeout")
			}
			if len(b) >= 8 && binary.LittleEndian.Uint64(b) == stopSeq {
				s.stop()
			}
		}
		s.poll = func() int { return ping.Poll(0, echo) }
	} else {
		// The consumer copies each record out (see serveRings): with
		// asm.Copy (asm.CopyLine for 32…64 bytes), or under -protocol
		// records a typed copy, as a reader of Records would (the
		// producer's is typed in batches, CopyLine's words one at a
		// time: Records.TryWrite).
		if c.Protocol == "records" {
			recs, err := spin.RecordsOf[typedRecord](ping, logType)
			if err != nil {
				return err
			}
			var m typedRecord
			take := func(typ uint32, b []byte) {
				p := recs.Of(typ, b)
				if p == nil {
					s.count(0, false)
					return
				}
				m = *p
				s.count(m[0], true)
			}
			s.poll = func() int { return ping.Poll(0, take) }
		} else {
			cp := make([]byte, logPayload(c))
			count := func(_ uint32, b []byte) {
				if len(b) < 8 {
					s.count(0, false)
					return
				}
				asm.Copy(cp, b) // as TryWrite copies in
				s.count(binary.LittleEndian.Uint64(cp), true)
			}
			if asm.CopyLineSized(len(cp)) {
				// As fillLine copies in: a callback that makes no call.
				count = func(_ uint32, b []byte) {
					if len(b) < 8 {
						s.count(0, false)
						return
					}
					asm.CopyLine(cp, b)
					s.count(binary.LittleEndian.Uint64(cp), true)
				}
			}
			s.poll = func() int { return ping.Poll(0, count) }
		}
		ack := make([]byte, 8)
		s.ack = func(done uint64) bool {
			binary.LittleEndian.PutUint64(ack, done)
			return pong.TryWrite(logType, ack) || retryFull(func() bool { return pong.TryWrite(logType, ack) }, s.limit)
		}
	}
	return s.run(idlerFor(idle, ping), ping.Err)
}

func (t spinwireT) options(c *config) options {
	p := spin.DefaultProtocol.String()
	if c.Protocol != "" {
		p = c.Protocol
	}
	var path string
	switch {
	case c.Protocol == "records":
		path, p = "spin.Log as spin.Records[[7]uint64]: one 64-byte record per message (8-byte header + 56-byte payload), typed copies", ""
	case !ringSize(c):
		path, p = fmt.Sprintf("spin.Log: one %d-byte record per message (8-byte header + %d-byte payload)", logPayload(c)+spin.RecordHeaderLength, logPayload(c)), ""
	case protocol(c) == spin.InSlot:
		path = fmt.Sprintf("spin.Ring: %d-byte message + 8-byte sequence in one slot", 8*ringWords(c))
	default:
		path = fmt.Sprintf("spin.Ring: %d-byte message per slot", 8*ringWords(c))
	}
	wait := map[string]string{
		"spin":    "busy spin (PAUSE per poll) on pinned agents",
		"backoff": "spin.Backoff: spin, then sched_yield, then futex park",
		"park":    "spin.Park: futex park at once (the publisher wakes it)",
	}[t.idle]
	if c.Demote {
		path += "; each slot of more than one line demoted after its publish (spin.Ring.SetDemote)"
	}
	return options{Idle: t.idle, Agent: c.Agent, Protocol: p, Slots: c.Slots, Path: path, Wait: wait}
}

// retryFull retries a publish that found its ring full, one PAUSE between
// attempts, for at most limit ticks. With one message in flight a ring is
// only ever full for an instant: the other side has taken the message (its
// echo may even have come back) but not yet stored its head, which it does
// once per Poll, after the batch.
func retryFull(try func() bool, limit uint64) bool {
	start := asm.Ticks()
	for i := 1; ; i++ {
		asm.Pause()
		if try() {
			return true
		}
		if i&1023 == 0 && asm.Ticks()-start > limit {
			return false
		}
	}
}
