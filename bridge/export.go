package bridge

import (
	"context"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/spinwire/spinwire/internal/msg"
	"github.com/spinwire/spinwire/layout"
	"github.com/spinwire/spinwire/topic"
)

// ExportOptions configures Export.
type ExportOptions struct {
	Subject string // the NATS subject; required
	// MaxBatch is the most messages per NATS message (default 64, at most
	// MaxCount).
	MaxBatch int
	// MaxDelay is the longest a message waits in a batch before the
	// batch goes out while more keep coming (default 100 µs); a batch goes
	// out at once when the topic has nothing more.
	MaxDelay time.Duration
	// Subscribe is how the exporter subscribes to the local topic.
	Subscribe topic.SubscribeOptions

	// Durable publishes each batch to JetStream (durable.go) and waits for
	// the server to store it; a restarted exporter resumes after the last
	// batch stored, from the topic's History.
	Durable bool
	// Stream is the JetStream stream holding Subject in durable mode,
	// made if missing (default: DefaultStream(Subject)).
	Stream string
}

// RawExporter sends one local topic of any type to a NATS subject (Run):
// what ExportRaw returns, and what an Exporter is.
type RawExporter struct {
	nc     *nats.Conn
	sub    *topic.RawSubscriber
	opts   ExportOptions
	schema *layout.Schema // the topic's
	size   int
	stats  struct{ messages, batches, lost, skipped atomic.Uint64 }
	busy   atomic.Bool // Run runs, or Close closes
}

// Exporter is a RawExporter of a topic whose type Export checked is T.
type Exporter[T any] struct{ *RawExporter }

// ExportStats are an Exporter's counters.
type ExportStats struct {
	Messages uint64 // messages sent
	Batches  uint64 // NATS messages sent
	Lost     uint64 // messages the exporter lost on the local topic (lapped)
	Skipped  uint64 // durable: messages not sent again, JetStream had them
}

// Export subscribes to the local topic name and returns an Exporter that
// sends it to opts.Subject once Run runs. T must be a fixed-layout type
// (layout.Of) and the topic's type: another gives a *layout.MismatchError
// naming the field.
func Export[T any](nc *nats.Conn, name string, opts ExportOptions) (*Exporter[T], error) {
	sc, err := layout.Of[T]()
	if err != nil {
		return nil, err
	}
	e, err := ExportRaw(nc, name, opts)
	if err != nil {
		return nil, err
	}
	if e.schema.Fingerprint != sc.Fingerprint {
		e.sub.Close()
		if err := sc.Diff(e.schema); err != nil {
			return nil, err
		}
		return nil, layout.FingerprintMismatch("topic message", sc.Fingerprint, e.schema.Fingerprint)
	}
	return &Exporter[T]{e}, nil
}

// ExportRaw is Export for a topic of any type: the batches carry the
// topic's own schema's fingerprint and name (topic.SubscribeRaw).
func ExportRaw(nc *nats.Conn, name string, opts ExportOptions) (*RawExporter, error) {
	if opts.MaxBatch == 0 {
		opts.MaxBatch = 64
	}
	if opts.MaxDelay == 0 {
		opts.MaxDelay = 100 * time.Microsecond
	}

	if opts.Subject == "" || opts.MaxBatch < 1 || opts.MaxBatch > MaxCount || opts.MaxDelay < 0 {
		return nil, msg.Errorf("bridge: export %q: want a Subject, MaxBatch in 1…%d and MaxDelay ≥ 0", name, MaxCount)
	}
	if opts.Stream == "" {
		opts.Stream = DefaultStream(opts.Subject)
	}
	sub, err := topic.SubscribeRaw(name, opts.Subscribe)
	if err != nil {
		return nil, err
	}
	sc := sub.Schema()
	return &RawExporter{nc: nc, sub: sub, opts: opts, schema: sc, size: int(sc.Size)}, nil
}

// Run sends the topic's messages until ctx ends or the subscription fails
// (evicted, say), then closes the subscription. A batch goes out when the
// topic has no more messages for it (smart batching: under load, batches
// grow by themselves), when it holds MaxBatch messages or its first
// message has waited MaxDelay, and before a gap (the exporter was lapped:
// the next batch starts at the next position it holds) or a new publisher
// (a new source). Sequence numbers are the topic's positions and the
// source its publisher's epoch, so an importer drops what a restarted
// exporter sends again. With nothing to send it yields, then waits in the
// kernel until the topic's publisher wakes it (topic.Subscriber.Wait), up
// to idleWait at a time so that it sees ctx end. It also answers for the
// topic's schema (FetchSchema). Cost: one copy per message into the
// batch, one NATS publish (a copy into its buffer) and a header per
// batch, whose values are kept and one allocation made (BenchmarkBatchFlush);
// in durable mode, a round trip to JetStream per batch.
func (e *RawExporter) Run(ctx context.Context) error {
	if !e.busy.CompareAndSwap(false, true) {
		return msg.Errorf("bridge: export to %s: Run while another Run or Close runs", e.opts.Subject)
	}
	defer e.busy.Store(false)
	defer e.sub.Close()
	text := e.schema.Encode()
	ss, err := e.nc.Subscribe(schemaSubject(e.opts.Subject), func(m *nats.Msg) { m.Respond(text) })
	if err != nil {
		return err
	}
	defer ss.Unsubscribe()
	b := batcher{e: e.opts, size: e.size, m: nats.NewMsg(e.opts.Subject), buf: make([]byte, 0, e.opts.MaxBatch*e.size),
		send: e.send, skipped: &e.stats.skipped, fp: e.schema.Fingerprint, typ: e.schema.Name}
	if e.opts.Durable {
		js, resume, err := e.durableStart()
		if err != nil {
			return err
		}
		b.js, b.resume = js, resume
	}
	lost := uint64(0)
	add := func(v []byte) { b.add(e.sub.Epoch(), e.sub.Position()-1, v) }
	for idle := 0; ctx.Err() == nil; {
		n, err := e.sub.Poll(add, e.opts.MaxBatch-len(b.buf)/e.size)
		if l := e.sub.Lost(); l != lost {
			e.stats.lost.Add(l - lost)
			lost = l
		}
		if err == nil {
			err = b.err
		}
		if err != nil {
			b.flush()
			return err
		}
		// Smart batching: a batch goes out as soon as the topic has
		// nothing more for it, so a lone message waits for nothing; under
		// load, what piles up while one batch is sent makes the next.
		if n == 0 || b.full() || b.due() {
			if err := b.flush(); err != nil {
				return err
			}
		}
		if n > 0 {
			idle = 0
			continue
		}
		if idle++; idle < 64 {
			runtime.Gosched()
		} else {
			e.sub.Wait(idleWait) // the publisher wakes it (topic's wait.go)
		}
	}
	return b.flush()
}

// Close gives up the exporter's topic subscription, for an exporter that
// is not to run (again): Run closes it when it returns, so Close after Run
// returns topic.ErrClosed, as a second Close does, and a Run after Close
// fails with it. While Run runs it changes nothing and returns an error:
// cancel Run's context instead. A reliable topic stops waiting for the
// exporter at once.
func (e *RawExporter) Close() error {
	if !e.busy.CompareAndSwap(false, true) {
		return msg.Errorf("bridge: export to %s: Close while Run runs (cancel its context)", e.opts.Subject)
	}
	defer e.busy.Store(false)
	return e.sub.Close()
}

// idleWait bounds each of an idle exporter's waits for the topic.
const idleWait = 5 * time.Millisecond

// send publishes one batch: to JetStream in durable mode, and counts it.
func (e *RawExporter) send(b *batcher, n int) error {
	var err error
	if b.js != nil {
		_, err = b.js.PublishMsg(b.m, nats.MsgId(b.hdr.source[0]+"-"+b.hdr.seq[0]))
	} else {
		err = e.nc.PublishMsg(b.m)
	}
	if err == nil {
		e.stats.messages.Add(uint64(n))
		e.stats.batches.Add(1)
	}
	return err
}

// batcher gathers one batch: consecutive positions of one source.
type batcher struct {
	e       ExportOptions
	size    int
	m       *nats.Msg
	buf     []byte
	source  uint64
	seq     uint64 // the first message's position
	first   time.Time
	err     error // the first send that failed inside a Poll
	js      nats.JetStreamContext
	resume  resumePoint
	skipped *atomic.Uint64
	send    func(*batcher, int) error
	fp      uint64
	typ     string
	hdr     batchHeader // b.m's header values, kept
}

// add appends message pos of source, sending the batch so far first when
// pos does not follow it; in durable mode a message JetStream has already
// is skipped. Once a send has failed (b.err) it adds nothing: the batch
// keeps only the messages its header will name, and Run, seeing b.err,
// tries it once more and returns.
func (b *batcher) add(source, pos uint64, v []byte) {
	if b.err != nil {
		return
	}
	if b.resume.skip(source, pos) {
		if b.skipped != nil {
			b.skipped.Add(1)
		}
		return
	}
	if n := uint64(len(b.buf) / b.size); n > 0 && (source != b.source || pos != b.seq+n) {
		if b.err = b.flush(); b.err != nil {
			return
		}
	}
	if len(b.buf) == 0 {
		b.source, b.seq, b.first = source, pos, time.Now()
	}
	b.buf = append(b.buf, v...)
}

func (b *batcher) full() bool { return len(b.buf) == cap(b.buf) }
func (b *batcher) due() bool  { return len(b.buf) > 0 && time.Since(b.first) >= b.e.MaxDelay }

// flush sends the batch, if any.
func (b *batcher) flush() error {
	n := len(b.buf) / b.size
	if n == 0 {
		return nil
	}
	b.hdr.set(b.m.Header, b.fp, b.typ, b.source, b.seq, n)
	b.m.Data = b.buf
	if err := b.send(b, n); err != nil {
		return err
	}
	b.buf = b.buf[:0]
	return nil
}

// Stats returns the exporter's counters; safe from any goroutine.
func (e *RawExporter) Stats() ExportStats {
	return ExportStats{Messages: e.stats.messages.Load(), Batches: e.stats.batches.Load(), Lost: e.stats.lost.Load(),
		Skipped: e.stats.skipped.Load()}
}

// Schema returns the topic's message layout, which the batches carry.
func (e *RawExporter) Schema() *layout.Schema { return e.schema }
