package topic

import (
	"errors"
	"io/fs"
	"time"
	"unsafe"

	"github.com/spinwire/spinwire/internal/msg"
	"github.com/spinwire/spinwire/layout"
)

// Raw topics: the same topics, for programs that do not know the message
// type at compile time (a bridge, a recorder, a command-line tool). A raw
// publisher is created with the message's layout.Schema and publishes
// byte slices of its size; a raw subscriber takes the schema from the
// topic itself and hands out byte slices. Both run the typed code with a
// message type of no size, Raw, whose copies do nothing: the bytes go
// through the publisher's and the subscriber's scratch words, which are
// sized by the schema. Typed and raw sides of one topic mix freely; the
// fingerprint is the schema's either way.

// Raw is the type parameter of raw publishers and subscribers: no bytes.
type Raw struct{}

// RawPublisher publishes byte slices of its schema's size. For one
// goroutine, like Publisher.
type RawPublisher struct {
	*Publisher[Raw]
	schema *layout.Schema
	buf    []byte // the publisher's scratch words, as bytes
}

// CreateRaw creates topic name for messages of layout sc, as Create does
// for a type.
func CreateRaw(name string, sc *layout.Schema, opts Options) (*RawPublisher, error) {
	if sc == nil || sc.Size == 0 || stride(sc.Size) > maxStride {
		return nil, msg.Errorf("%w: a raw topic needs a schema of 1…%d bytes", ErrBadOption, maxStride-seqLength)
	}
	p, err := createWith[Raw](name, opts, sc)
	if err != nil {
		return nil, err
	}
	return &RawPublisher{Publisher: p, schema: sc, buf: wordBytes(p.scratch, sc.Size)}, nil
}

// maxStride bounds a slot (checkView refuses larger ones).
const maxStride = 1 << 20

// wordBytes views the first size bytes of w.
func wordBytes(w []uint64, size uintptr) []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(w))), size)
}

// Schema returns the messages' layout.
func (r *RawPublisher) Schema() *layout.Schema { return r.schema }

// TryPublish publishes m, which must be Schema().Size bytes long; false
// as TryPublish's, or for another length. No allocation.
func (r *RawPublisher) TryPublish(m []byte) bool {
	if len(m) != len(r.buf) {
		return false
	}
	copy(r.buf, m)
	return r.Publisher.TryPublish(&Raw{})
}

// Publish is TryPublish waiting through Options.Idler for room, as
// Publisher.Publish; an error for a message of another length.
func (r *RawPublisher) Publish(m []byte) error {
	if len(m) != len(r.buf) {
		return msg.Errorf("%w: a message of %d bytes for %d-byte %s", ErrBadOption, len(m), len(r.buf), r.schema.Name)
	}
	copy(r.buf, m)
	return r.Publisher.Publish(&Raw{})
}

// Claimed returns the i-th slot that Claim claimed, as the message's
// Schema().Size bytes to fill in place (zero copy), or nil out of range;
// Commit publishes them. (It stands in for the embedded Publisher's
// Claimed, whose message type has no bytes.)
func (r *RawPublisher) Claimed(i int) []byte {
	p := r.Publisher
	if i < 0 || uint64(i) >= p.claimed {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Add(p.slot(p.tail+uint64(i)), seqLength)), len(r.buf))
}

// RawSubscriber reads a topic of any type as byte slices. For one
// goroutine, like Subscriber.
type RawSubscriber struct {
	*Subscriber[Raw]
	buf []byte // the subscriber's scratch words, as bytes
}

// SubscribeRaw joins topic name as Subscribe does, the message layout
// being the topic's own (Schema); opts.Wait waits for a publisher.
func SubscribeRaw(name string, opts SubscribeOptions) (*RawSubscriber, error) {
	opts, err := subscribeOptions(name, opts)
	if err != nil {
		return nil, err
	}
	sc, err := peekSchema(name, opts)
	if err != nil {
		return nil, err
	}
	s, err := subscribeWith[Raw](name, opts, sc)
	if err != nil {
		return nil, err
	}
	return &RawSubscriber{Subscriber: s, buf: wordBytes(s.scratch, sc.Size)}, nil
}

// Schema returns the messages' layout, as the topic's publisher declared it.
func (r *RawSubscriber) Schema() *layout.Schema { return r.schema }

// Poll is Subscriber.Poll handing fn each message as a byte slice of the
// subscriber's own, valid until fn returns.
func (r *RawSubscriber) Poll(fn func([]byte), limit int) (int, error) {
	return r.Subscriber.Poll(func(*Raw) { fn(r.buf) }, limit)
}

// PollInPlace is Poll: a raw subscriber always hands fn its own copy (it
// hides Subscriber.PollInPlace, whose *Raw would be empty).
func (r *RawSubscriber) PollInPlace(fn func([]byte), limit int) (int, error) {
	return r.Poll(fn, limit)
}

// peekSchema reads topic name's message schema from its header, waiting
// up to opts.Wait for a publisher. The header is hostile: checkView checks
// it again against the schema when the subscriber maps the topic.
func peekSchema(name string, opts SubscribeOptions) (*layout.Schema, error) {
	deadline := time.Now().Add(opts.Wait)
	for {
		sc, err := readSchema(name, opts)
		if err == nil || !errors.Is(err, ErrNoPublisher) || !time.Now().Before(deadline) {
			return sc, err
		}
		time.Sleep(time.Millisecond)
	}
}

func readSchema(name string, opts SubscribeOptions) (*layout.Schema, error) {
	seg, err := layout.Open(layout.Options{Name: name, Dir: opts.Dir, ReadOnly: true, Fingerprint: topicFPrint, MaxLength: opts.MaxLength})
	if errors.Is(err, fs.ErrNotExist) {
		return nil, msg.Errorf("%w: %s in %s", ErrNoPublisher, name, opts.Dir)
	}
	if err != nil {
		return nil, err
	}
	defer seg.Close()
	m := seg.Body()
	if len(m) < slotsOffset || load(m, offMagic) != topicMagic {
		return nil, msg.Errorf("%w: %s is not ready or not a topic", ErrNoPublisher, name)
	}
	text, ok := schemaText(m)
	if !ok {
		return nil, msg.Errorf("%w: a schema of %d bytes at %d in %d", ErrCorrupt, load32(m, offSchemaLen), load(m, offSchemaOff), len(m))
	}
	sc, err := layout.DecodeSchema(text)
	if err != nil {
		return nil, msg.Errorf("%w: schema: %v", ErrCorrupt, err)
	}
	return sc, nil
}
