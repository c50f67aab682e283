package bridge

import (
	"context"
	"math/rand/v2"
	"runtime"
	"sync/atomic"
	"time"
	"unsafe"

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
	// batch goes out (default 100 µs).
	MaxDelay time.Duration
	// Subscribe is how the exporter subscribes to the local topic.
	Subscribe topic.SubscribeOptions
}

// Exporter sends one local topic to a NATS subject (Run).
type Exporter[T any] struct {
	nc     *nats.Conn
	sub    *topic.Subscriber[T]
	opts   ExportOptions
	schema *layout.Schema
	source uint64
	size   int
	stats  struct{ messages, batches, lost atomic.Uint64 }
}

// ExportStats are an Exporter's counters.
type ExportStats struct {
	Messages uint64 // messages sent
	Batches  uint64 // NATS messages sent
	Lost     uint64 // messages the exporter lost on the local topic (lapped)
}

// Export subscribes to the local topic name and returns an Exporter that
// sends it to opts.Subject once Run runs. T must be a fixed-layout type
// (layout.Of) and the topic's type.
func Export[T any](nc *nats.Conn, name string, opts ExportOptions) (*Exporter[T], error) {
	sc, err := layout.Of[T]()
	if err != nil {
		return nil, err
	}
	if opts.MaxBatch == 0 {
		opts.MaxBatch = 64
	}
	if opts.MaxDelay == 0 {
		opts.MaxDelay = 100 * time.Microsecond
	}
	if opts.Subject == "" || opts.MaxBatch < 1 || opts.MaxBatch > MaxCount || opts.MaxDelay < 0 {
		return nil, msg.Errorf("bridge: export %q: want a Subject, MaxBatch in 1…%d and MaxDelay ≥ 0", name, MaxCount)
	}
	sub, err := topic.Subscribe[T](name, opts.Subscribe)
	if err != nil {
		return nil, err
	}
	return &Exporter[T]{nc: nc, sub: sub, opts: opts, schema: sc, source: rand.Uint64(), size: int(unsafe.Sizeof(*new(T)))}, nil
}

// Run sends the topic's messages until ctx ends or the subscription fails
// (evicted, say), then closes the subscription. A batch goes out when it
// holds MaxBatch messages or its first message has waited MaxDelay;
// before a gap (the exporter was lapped) the batch so far goes out, and
// the next one's sequence number skips the lost messages. With nothing to
// send it yields, then sleeps a quarter of MaxDelay at most between looks.
// Cost: one copy per message into the batch, one NATS publish (a copy
// into its buffer) and a header per batch.
func (e *Exporter[T]) Run(ctx context.Context) error {
	defer e.sub.Close()
	buf := make([]byte, 0, e.opts.MaxBatch*e.size)
	m := nats.NewMsg(e.opts.Subject)
	var seq, lost uint64
	var first time.Time
	flush := func() error {
		n := len(buf) / e.size
		if n == 0 {
			return nil
		}
		encodeHeader(m.Header, e.schema.Fingerprint, e.schema.Name, e.source, seq, n)
		m.Data = buf
		if err := e.nc.PublishMsg(m); err != nil {
			return err
		}
		seq += uint64(n)
		e.stats.messages.Add(uint64(n))
		e.stats.batches.Add(1)
		buf = buf[:0]
		return nil
	}
	add := func(v *T) {
		if len(buf) == 0 {
			first = time.Now()
		}
		buf = append(buf, unsafe.Slice((*byte)(unsafe.Pointer(v)), e.size)...)
	}
	for idle := 0; ctx.Err() == nil; {
		n, err := e.sub.Poll(add, e.opts.MaxBatch-len(buf)/e.size)
		if l := e.sub.Lost(); l != lost {
			// The messages in buf came before the loss: send them, then skip.
			if err := flush(); err != nil {
				return err
			}
			seq += l - lost
			e.stats.lost.Add(l - lost)
			lost = l
		}
		if err != nil {
			flush()
			return err
		}
		if len(buf) == cap(buf) || (len(buf) > 0 && time.Since(first) >= e.opts.MaxDelay) {
			if err := flush(); err != nil {
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
			time.Sleep(min(e.opts.MaxDelay/4, 100*time.Microsecond) + time.Microsecond)
		}
	}
	return flush()
}

// Stats returns the exporter's counters; safe from any goroutine.
func (e *Exporter[T]) Stats() ExportStats {
	return ExportStats{Messages: e.stats.messages.Load(), Batches: e.stats.batches.Load(), Lost: e.stats.lost.Load()}
}
