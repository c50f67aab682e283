package bridge

import (
	"errors"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/nats-io/nats.go"
	"github.com/spinwire/spinwire/layout"
	"github.com/spinwire/spinwire/topic"
)

// MaxSources is how many exporters an Importer keeps sequence state for.
const MaxSources = 256

// ImportOptions configures Import.
type ImportOptions struct {
	// Logf receives refusals, at most one line per kind and source
	// (default: none).
	Logf func(format string, args ...any)
	// Durable, if not empty, reads the subject from its JetStream stream
	// through the durable consumer of that name, acknowledging each batch
	// once it is in the local topic (durable.go).
	Durable string
	// Stream is the JetStream stream in durable mode, made if missing
	// (default: DefaultStream(subject)).
	Stream string
}

// RawImporter publishes what arrives on a NATS subject into a local
// topic of any type: what ImportRaw returns, and what an Importer is.
type RawImporter struct {
	nc      *nats.Conn
	sub     *nats.Subscription
	publish func([]byte) error // one message into the local topic
	schema  *layout.Schema
	size    int
	logf    func(string, ...any)

	mu      sync.Mutex        // the NATS callback's state, for Close
	next    map[uint64]uint64 // per source: the next sequence expected
	closed  bool
	failed  atomic.Pointer[error] // the local publish that failed: the importer stopped
	stats   [importCounters]atomic.Uint64
	loggedM bool
}

// Importer is a RawImporter into a topic of T.
type Importer[T any] struct {
	*RawImporter
	msgBuf T
}

// The Importer's counters, in ImportStats' order.
const (
	impMessages = iota
	impBatches
	impLost
	impDuplicates
	impMalformed
	impMismatched
	impForgotten
	impErrors
	importCounters
)

// ImportStats are an Importer's counters.
type ImportStats struct {
	Messages   uint64 // published into the local topic
	Batches    uint64 // NATS messages accepted
	Lost       uint64 // messages missing between accepted batches (sequence gaps)
	Duplicates uint64 // messages dropped as replayed or reordered
	Malformed  uint64 // NATS messages refused: headers or length
	Mismatched uint64 // NATS messages refused: another type (fingerprint)
	Forgotten  uint64 // sources forgotten beyond MaxSources
	Errors     uint64 // batches not published: the local publisher failed (Err)
}

// Import subscribes to subject on nc and publishes every message of every
// well-formed batch of T into pub, in order, from the subscription's
// goroutine (a Reliable topic's publisher may wait there for its slowest
// subscriber, and NATS then buffers, up to its pending limits). A local
// publish that fails (pub closed) stops the importer (Err). The NATS
// server has the subscription when Import returns (a flush). T must be a
// fixed-layout type (layout.Of).
func Import[T any](nc *nats.Conn, subject string, pub *topic.Publisher[T], opts ImportOptions) (*Importer[T], error) {
	sc, err := layout.Of[T]()
	if err != nil {
		return nil, err
	}
	im := &Importer[T]{}
	buf := unsafe.Slice((*byte)(unsafe.Pointer(&im.msgBuf)), sc.Size)
	if im.RawImporter, err = importWith(nc, subject, sc, func(b []byte) error {
		copy(buf, b)
		return pub.Publish(&im.msgBuf)
	}, opts); err != nil {
		return nil, err
	}
	return im, nil
}

// ImportRaw is Import into a raw topic publisher: the batches must carry
// its schema's fingerprint.
func ImportRaw(nc *nats.Conn, subject string, pub *topic.RawPublisher, opts ImportOptions) (*RawImporter, error) {
	return importWith(nc, subject, pub.Schema(), pub.Publish, opts)
}

// importWith subscribes an importer of messages of sc, which publish
// puts into the local topic.
func importWith(nc *nats.Conn, subject string, sc *layout.Schema, publish func([]byte) error, opts ImportOptions) (*RawImporter, error) {
	var err error
	im := &RawImporter{nc: nc, publish: publish, schema: sc, size: int(sc.Size), logf: opts.Logf, next: map[uint64]uint64{}}
	if opts.Durable != "" {
		im.sub, err = im.durable(nc, subject, opts)
	} else {
		im.sub, err = nc.Subscribe(subject, func(m *nats.Msg) { im.receive(m) })
	}
	if err == nil {
		err = nc.Flush() // the server has the subscription when this returns
	}
	if err != nil {
		if im.sub != nil {
			im.sub.Unsubscribe()
		}
		return nil, err
	}
	return im, nil
}

// durable subscribes through the durable consumer opts.Durable of the
// subject's stream, acknowledging each batch handled.
func (im *RawImporter) durable(nc *nats.Conn, subject string, opts ImportOptions) (*nats.Subscription, error) {
	js, err := nc.JetStream()
	if err != nil {
		return nil, err
	}
	stream := opts.Stream
	if stream == "" {
		stream = DefaultStream(subject)
	}
	if err := ensureStream(js, stream, subject); err != nil {
		return nil, err
	}
	if err := ensureConsumer(js, stream, opts.Durable, subject); err != nil {
		return nil, err
	}
	// Bound to the consumer, not made by the subscription: Close leaves
	// it, and its position, to the next importer.
	return js.Subscribe(subject, func(m *nats.Msg) {
		switch im.receive(m) {
		case handled:
			m.Ack()
		case closing:
			m.Nak() // sent again at once, to whoever holds the consumer next
		case stopped:
			// Not at once: this importer holds the consumer still, and
			// would refuse it again at once, and again.
			m.NakWithDelay(durableRetry)
		}
	}, nats.Bind(stream, opts.Durable), nats.ManualAck())
}

// durableRetry is how long a batch a stopped durable importer refused
// waits before the consumer sends it again (to the next importer, or to
// this one until it closes).
const durableRetry = 100 * time.Millisecond

// What receive did with a batch.
type outcome int

const (
	handled outcome = iota // published, or refused as hostile or duplicate
	closing                // the importer is closed
	stopped                // the importer stopped: a local publish failed (Err)
)

// receive is the NATS callback: one batch. A batch that was not wholly
// published (the importer closed, or the local publisher failed) is left
// unacknowledged by a durable importer; its sequence state then stands
// just after the last message it did publish, so that the batch sent
// again is trimmed to the rest.
func (im *RawImporter) receive(m *nats.Msg) outcome {
	im.mu.Lock()
	defer im.mu.Unlock()
	switch {
	case im.closed:
		return closing
	case im.failed.Load() != nil:
		im.stats[impErrors].Add(1)
		return stopped
	}
	b, err := decode(m, im.size)
	switch {
	case err == nil:
	case errors.Is(err, errOtherType) && b.fingerprint != im.schema.Fingerprint:
		im.mismatched(m.Subject, b)
		return handled
	default:
		im.stats[impMalformed].Add(1)
		return handled
	}
	if b.fingerprint != im.schema.Fingerprint {
		im.mismatched(m.Subject, b)
		return handled
	}
	skip := im.sequence(b)
	if skip >= b.count {
		return handled
	}
	im.stats[impBatches].Add(1)
	for i := skip; i < b.count; i++ {
		if err := im.publish(m.Data[i*im.size : (i+1)*im.size]); err != nil {
			im.next[b.source] = b.seq + uint64(i) // the rest is not in the topic
			// A variable of its own: &err would move every message's err
			// to the heap (TestReceiveAllocs).
			failed := err
			im.failed.Store(&failed)
			im.stats[impErrors].Add(1)
			if im.logf != nil {
				im.logf("bridge: %s: stopped: the local topic refused a message: %v", m.Subject, err)
			}
			return stopped
		}
		im.stats[impMessages].Add(1)
	}
	return handled
}

// mismatched counts a batch of another type and, the first time, logs
// it — with the field that differs once the exporter has said what its
// type is (FetchSchema, asked from a goroutine of its own: the callback
// does not wait for it).
func (im *RawImporter) mismatched(subject string, b batch) {
	im.stats[impMismatched].Add(1)
	if im.loggedM || im.logf == nil {
		return
	}
	im.loggedM = true
	im.logf("bridge: %s: refused batches of %q (fingerprint %016x): the local topic carries %q (%016x)",
		subject, b.typ, b.fingerprint, im.schema.Name, im.schema.Fingerprint)
	if im.nc == nil {
		return
	}
	go func() {
		if theirs, err := FetchSchema(im.nc, subject, time.Second); err == nil && theirs.Fingerprint == b.fingerprint {
			if d := im.schema.Diff(theirs); d != nil {
				im.logf("bridge: %s: %v", subject, d)
			}
		}
	}()
}

// sequence checks b's sequence against its source's next expected and
// returns how many of its messages to skip (all of them: a duplicate).
func (im *RawImporter) sequence(b batch) int {
	end := b.seq + uint64(b.count)
	next, known := im.next[b.source]
	if !known {
		if len(im.next) >= MaxSources {
			for k := range im.next { // forget one, any one
				delete(im.next, k)
				im.stats[impForgotten].Add(1)
				break
			}
		}
		next = b.seq // a source's first batch starts it
	}
	switch {
	case end <= next:
		im.stats[impDuplicates].Add(uint64(b.count))
		return b.count
	case b.seq < next:
		im.stats[impDuplicates].Add(next - b.seq)
		im.next[b.source] = end
		return int(next - b.seq)
	case b.seq > next:
		im.stats[impLost].Add(b.seq - next)
	}
	im.next[b.source] = end
	return 0
}

// Stats returns the importer's counters; safe from any goroutine.
func (im *RawImporter) Stats() ImportStats {
	var v [importCounters]uint64
	for i := range v {
		v[i] = im.stats[i].Load()
	}
	return ImportStats{Messages: v[impMessages], Batches: v[impBatches], Lost: v[impLost], Duplicates: v[impDuplicates],
		Malformed: v[impMalformed], Mismatched: v[impMismatched], Forgotten: v[impForgotten], Errors: v[impErrors]}
}

// Err returns the error of the local publish that stopped the importer
// (the topic's publisher closed), or nil. A stopped importer publishes
// nothing more: it refuses every later batch (ImportStats.Errors), and a
// durable one leaves them with its consumer, sent again every
// durableRetry (100 ms) to whichever importer holds it — close this one
// and import into a new publisher to go on where it stopped.
// Safe from any goroutine.
func (im *RawImporter) Err() error {
	if p := im.failed.Load(); p != nil {
		return *p
	}
	return nil
}

// Close unsubscribes; no batch is published into the topic after it
// returns. The topic's Publisher stays the caller's.
func (im *RawImporter) Close() error {
	err := im.sub.Unsubscribe()
	im.mu.Lock()
	im.closed = true
	im.mu.Unlock()
	return err
}
