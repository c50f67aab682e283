package bridge

import (
	"errors"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/spinwire/spinwire/internal/msg"
)

// Durable mode. An exporter with ExportOptions.Durable publishes each
// batch to a JetStream stream and waits for the server to store it, with
// a message id of source and first sequence (Nats-Msg-Id), so that the
// stream stores a batch sent twice once. When it starts, it reads the
// last batch the stream holds for its subject: if that batch came from
// the same publisher (source: the topic's epoch), the exporter skips the
// positions it covers and resumes after it. A topic created with History
// gives a restarted exporter the messages published while it was down,
// so nothing is lost as long as the topic still holds them: a bridge down
// for longer than History messages loses the oldest, and the importer
// counts them as a gap. An importer with ImportOptions.Durable reads the
// stream through a durable consumer and acknowledges a batch once its
// messages are in the local topic: a restarted importer is sent again what
// it had not acknowledged, and drops what it had published already
// (duplicates, by sequence) — or, if it restarted itself and lost that
// state, publishes it again: at least once. An importer that could not
// publish a batch wholly (its local publisher closed) stops and leaves the
// batch unacknowledged (RawImporter.Err): the consumer sends it again,
// every durableRetry, until an importer takes it.

// DefaultStream is the JetStream stream name durable mode uses for
// subject: SPINWIRE_ and the subject with its dots and wildcards as
// underscores.
func DefaultStream(subject string) string {
	return "SPINWIRE_" + strings.NewReplacer(".", "_", "*", "_", ">", "_").Replace(subject)
}

// durableDuplicates is the stream's de-duplication window.
const durableDuplicates = 2 * time.Minute

// durableAckWait is how long the consumer waits for a batch's
// acknowledgement before it sends the batch again; an importer publishes a
// batch locally in microseconds.
const durableAckWait = 2 * time.Second

// ensureStream makes stream, holding subject on file storage, if missing.
func ensureStream(js nats.JetStreamContext, stream, subject string) error {
	_, err := js.StreamInfo(stream)
	if errors.Is(err, nats.ErrStreamNotFound) {
		_, err = js.AddStream(&nats.StreamConfig{Name: stream, Subjects: []string{subject},
			Storage: nats.FileStorage, Duplicates: durableDuplicates})
	}
	if err != nil {
		return msg.Errorf("bridge: JetStream stream %s: %w", stream, err)
	}
	return nil
}

// resumePoint is where a durable exporter resumes: after the last batch
// of source the stream stored.
type resumePoint struct {
	source, next uint64
	set          bool
}

// skip reports whether message pos of source is stored already.
func (r *resumePoint) skip(source, pos uint64) bool {
	return r.set && source == r.source && pos < r.next
}

// durableStart gets the exporter's JetStream context, makes its stream if
// missing, and reads where to resume.
func (e *RawExporter) durableStart() (nats.JetStreamContext, resumePoint, error) {
	js, err := e.nc.JetStream()
	if err != nil {
		return nil, resumePoint{}, err
	}
	if err := ensureStream(js, e.opts.Stream, e.opts.Subject); err != nil {
		return nil, resumePoint{}, err
	}
	last, err := js.GetLastMsg(e.opts.Stream, e.opts.Subject)
	if errors.Is(err, nats.ErrMsgNotFound) {
		return js, resumePoint{}, nil
	}
	if err != nil {
		return nil, resumePoint{}, msg.Errorf("bridge: the last batch in %s: %w", e.opts.Stream, err)
	}
	b, err := decode(&nats.Msg{Header: last.Header, Data: last.Data}, e.size)
	if err != nil || b.fingerprint != e.schema.Fingerprint {
		return js, resumePoint{}, nil // not ours to resume from
	}
	return js, resumePoint{source: b.source, next: b.seq + uint64(b.count), set: true}, nil
}

// ensureConsumer makes the durable push consumer name on stream, if
// missing: every message of subject from the first, acknowledged one by
// one, delivered to a subject of its own, one at a time (MaxAckPending
// 1): a batch not acknowledged — its importer closed with it pending, and
// refused it — is sent again before any later one, so the local topic
// gets the batches in order; one delivered to an importer that had gone
// (unacknowledged, not refused) is sent again after durableAckWait.
func ensureConsumer(js nats.JetStreamContext, stream, name, subject string) error {
	_, err := js.ConsumerInfo(stream, name)
	if errors.Is(err, nats.ErrConsumerNotFound) {
		_, err = js.AddConsumer(stream, &nats.ConsumerConfig{Durable: name, FilterSubject: subject,
			AckPolicy: nats.AckExplicitPolicy, DeliverPolicy: nats.DeliverAllPolicy, MaxAckPending: 1, AckWait: durableAckWait,
			DeliverSubject: "_SPINWIRE." + stream + "." + name})
	}
	if err != nil {
		return msg.Errorf("bridge: JetStream consumer %s on %s: %w", name, stream, err)
	}
	return nil
}
