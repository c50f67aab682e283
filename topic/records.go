package topic

import (
	"encoding/binary"
	"strconv"

	"github.com/spinwire/spinwire/internal/msg"
	"github.com/spinwire/spinwire/layout"
)

// Byte records: a topic of variable-length messages of up to a maximum
// size set at Create, each with a type. It is a raw topic whose message is
// a record (recordSchema):
//
//	+-------------------------------+-------------------------------+
//	| Len (u32): bytes of Data used | Type (u32)                    |  0
//	+-------------------------------+-------------------------------+
//	| Data: Max bytes, the first Len of them the record            ...  8
//	+---------------------------------------------------------------+
//
// so subscribers, typed or not, see a fixed layout ("topic.Record" with
// Data's length, in the fingerprint) and check it like any other. A slot
// holds the largest record; publishing and receiving copy the whole slot
// (the topic's seqlock copies words), so a topic of mostly small records
// with a large Max pays for Max. A Len beyond Max — what no honest
// publisher writes — is an error for that record (ErrCorrupt), and the
// subscriber goes on with the next.

// MaxRecordSize bounds CreateRecords' max.
const MaxRecordSize = maxStride - seqLength - recordHeader

const recordHeader = 8 // Len and Type

// recordSchema is the layout of a record of up to max bytes.
func recordSchema(max int) (*layout.Schema, error) {
	size := (recordHeader + max + 7) &^ 7
	text := "spinwire-schema 1 " + strconv.Itoa(size) + " 4 \"topic.Record\"\n" +
		"\"Len\" 0 4 uint32 0\n\"Type\" 4 4 uint32 0\n" +
		"\"Data\" 8 " + strconv.Itoa(size-recordHeader) + " uint8 " + strconv.Itoa(size-recordHeader) + "\n"
	return layout.DecodeSchema([]byte(text))
}

// RecordPublisher publishes byte records. For one goroutine.
type RecordPublisher struct {
	*RawPublisher
	max int
}

// CreateRecords creates topic name for records of up to max bytes (Data
// is max rounded up to whole words).
func CreateRecords(name string, max int, opts Options) (*RecordPublisher, error) {
	if max < 1 || max > MaxRecordSize {
		return nil, msg.Errorf("%w: record size %d (1…%d)", ErrBadOption, max, MaxRecordSize)
	}
	sc, err := recordSchema(max)
	if err != nil {
		return nil, err
	}
	p, err := CreateRaw(name, sc, opts)
	if err != nil {
		return nil, err
	}
	return &RecordPublisher{RawPublisher: p, max: int(sc.Size) - recordHeader}, nil
}

// MaxRecord is the largest record the topic takes.
func (r *RecordPublisher) MaxRecord() int { return r.max }

// TryPublish publishes record b of type typ; false when a reliable topic
// is full, or b is longer than MaxRecord.
func (r *RecordPublisher) TryPublish(typ uint32, b []byte) bool {
	if len(b) > r.max {
		return false
	}
	r.put(typ, b)
	return r.Publisher.TryPublish(&Raw{})
}

// Publish is TryPublish waiting for room, as Publisher.Publish; an error
// for a record longer than MaxRecord.
func (r *RecordPublisher) Publish(typ uint32, b []byte) error {
	if len(b) > r.max {
		return msg.Errorf("%w: a record of %d bytes (at most %d)", ErrBadOption, len(b), r.max)
	}
	r.put(typ, b)
	return r.Publisher.Publish(&Raw{})
}

// put writes the record into the publisher's scratch words.
func (r *RecordPublisher) put(typ uint32, b []byte) {
	binary.LittleEndian.PutUint32(r.buf[0:], uint32(len(b)))
	binary.LittleEndian.PutUint32(r.buf[4:], typ)
	copy(r.buf[recordHeader:], b)
}

// RecordSubscriber reads a records topic. For one goroutine.
type RecordSubscriber struct {
	*RawSubscriber
	max int
}

// SubscribeRecords joins records topic name (whatever its maximum); a
// topic of another layout is refused.
func SubscribeRecords(name string, opts SubscribeOptions) (*RecordSubscriber, error) {
	s, err := SubscribeRaw(name, opts)
	if err != nil {
		return nil, err
	}
	sc := s.Schema()
	if want, err := recordSchema(int(sc.Size) - recordHeader); err != nil || sc.Size <= recordHeader || want.Fingerprint != sc.Fingerprint {
		s.Close()
		return nil, msg.Errorf("%w: topic %s carries %s, not records", ErrBadOption, name, sc.Name)
	}
	return &RecordSubscriber{RawSubscriber: s, max: int(sc.Size) - recordHeader}, nil
}

// PollInPlace is Poll: records are always handed out of the subscriber's
// own copy (it hides RawSubscriber.PollInPlace, whose bytes would include
// the record's header).
func (r *RecordSubscriber) PollInPlace(fn func(typ uint32, b []byte), limit int) (int, error) {
	return r.Poll(fn, limit)
}

// Poll hands fn each record ready, up to limit, as Subscriber.Poll does:
// its type and bytes, valid until fn returns. A record whose length the
// publisher wrote beyond the topic's maximum is skipped and the poll
// returns ErrCorrupt after the records before it.
func (r *RecordSubscriber) Poll(fn func(typ uint32, b []byte), limit int) (int, error) {
	var bad error
	n, err := r.RawSubscriber.Poll(func(b []byte) {
		l := binary.LittleEndian.Uint32(b[0:])
		if uint64(l) > uint64(r.max) {
			if bad == nil {
				bad = msg.Errorf("%w: a record of %d bytes in a topic of %d", ErrCorrupt, l, r.max)
			}
			return
		}
		fn(binary.LittleEndian.Uint32(b[4:]), b[recordHeader:recordHeader+int(l)])
	}, limit)
	if err == nil {
		err = bad
	}
	return n, err
}
