package bridge

import (
	"errors"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/spinwire/spinwire/internal/msg"
	"github.com/spinwire/spinwire/layout"
)

// Schemas. A running exporter answers requests on schemaSubject(its
// subject) with its topic's schema text (layout.Schema.Encode), so that an
// importer that knows no type — cmd/spinbridge's — can create the local
// topic with the same layout (FetchSchema, topic.CreateRaw).

// schemaSubject is where the exporter of subject answers for its schema.
func schemaSubject(subject string) string { return "_SPINWIRE.SCHEMA." + subject }

// maxSchemaReply bounds the schema text FetchSchema accepts.
const maxSchemaReply = 1 << 20

// FetchSchema asks the exporter of subject for its topic's message
// schema, waiting up to timeout for one to be there and answer. The answer is hostile
// input: its size is bounded and its text decoded and checked
// (layout.DecodeSchema).
func FetchSchema(nc *nats.Conn, subject string, timeout time.Duration) (*layout.Schema, error) {
	deadline := time.Now().Add(timeout)
	var m *nats.Msg
	var err error
	for {
		m, err = nc.Request(schemaSubject(subject), nil, max(time.Until(deadline), time.Millisecond))
		if !errors.Is(err, nats.ErrNoResponders) || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond) // no exporter yet: look again
	}
	if err != nil {
		return nil, msg.Errorf("bridge: the schema of %s: %w", subject, err)
	}
	if len(m.Data) > maxSchemaReply {
		return nil, msg.Errorf("bridge: the schema of %s: %d bytes", subject, len(m.Data))
	}
	sc, err := layout.DecodeSchema(m.Data)
	if err != nil {
		return nil, msg.Errorf("bridge: the schema of %s: %w", subject, err)
	}
	return sc, nil
}
