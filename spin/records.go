package spin

import (
	"unsafe"

	"github.com/spinwire/spinwire/internal/msg"
	"github.com/spinwire/spinwire/layout"
)

// Records is a Log's records of one type whose payload is a fixed-layout
// T, claimed and read as a T. Filling a claimed record with `*p = m` is a
// copy whose size the compiler knows — a few moves in line — where a
// byte payload's copy (asm.Copy, copy) is a call to the runtime's memmove;
// in a stream that keeps its producer busy, that call is what a 64-byte
// record costs beyond a Ring's slot (docs/benchmarks.md, "One-way stream";
// BenchmarkLogStream/typed). A Log may carry Records of several types and
// byte records side by side. Records is a small value: copy it freely.
type Records[T any] struct {
	l   *Log
	typ uint32
}

// RecordsOf returns the records of type typ (1…MaxRecordType) in l as Ts.
// T must be fixed-layout (layout.Of: no pointers, sized fields, explicit
// padding), aligned to at most 8 bytes (a payload starts 8 bytes into an
// 8-byte aligned record) and no larger than l's MaxRecord; otherwise the
// error says which, wrapping layout.ErrNotFixedLayout or ErrTooLarge.
func RecordsOf[T any](l *Log, typ uint32) (Records[T], error) {
	if l == nil {
		return Records[T]{}, msg.Errorf("spin: records of a nil log")
	}
	if _, err := layout.Of[T](); err != nil {
		return Records[T]{}, err
	}
	var m T
	if a := unsafe.Alignof(m); a > recordAlign {
		return Records[T]{}, msg.Errorf("spin: records of %T: alignment %d, a payload's is 8", m, a)
	}
	if typ == PaddingType || typ > MaxRecordType {
		return Records[T]{}, msg.Errorf("spin: records of %T: type %d (want 1…%d)", m, typ, MaxRecordType)
	}
	if n := unsafe.Sizeof(m); uint64(n) > l.maxRecord {
		return Records[T]{}, msg.Errorf("%w: %T is %d bytes, the log's records at most %d", ErrTooLarge, m, n, l.maxRecord)
	}
	return Records[T]{l: l, typ: typ}, nil
}

// Claim claims the next record, after those claimed already, and returns
// its payload as a T to fill in place; Commit (the Log's) publishes it.
// The record still holds an old record's bytes: set every field. It
// returns nil when there is no room (or the Log stopped: ProducerErr).
// Cost: Log.ClaimType's.
func (r Records[T]) Claim() *T {
	b := r.l.ClaimType(r.typ, int(unsafe.Sizeof(*new(T))))
	if b == nil {
		return nil
	}
	return (*T)(unsafe.Pointer(unsafe.SliceData(b)))
}

// TryWrite copies *v into a record and publishes it, with any records
// claimed before it (Log.TryWrite); false when there is no room. For a T
// of 32 to 64 bytes sent one at a time this is the fast way: no call
// beyond TryWrite's own and half the stores of Claim, a copy and Commit;
// its word moves also read a *v whose fields were stored just before
// without waiting for those stores (docs/benchmarks.md, eleventh
// session). It inlines.
func (r Records[T]) TryWrite(v *T) bool {
	return r.l.TryWrite(r.typ, unsafe.Slice((*byte)(unsafe.Pointer(v)), unsafe.Sizeof(*v)))
}

// Of returns a record that Poll handed to its handler as a *T, or nil
// when the record is of another type or not T's size. The T is in shared
// memory, valid only during the handler, and a faulty producer may change
// it under the reader: copy it out before trusting its fields. It inlines.
func (r Records[T]) Of(typ uint32, b []byte) *T {
	if typ != r.typ || uintptr(len(b)) != unsafe.Sizeof(*new(T)) {
		return nil
	}
	return (*T)(unsafe.Pointer(unsafe.SliceData(b)))
}

// ClaimN claims up to k records after those claimed already, as
// Log.ClaimN does, and returns their payloads as Ts to fill in place. A
// loop over At with a typed copy makes no call (BenchmarkLogStream/typedn).
func (r Records[T]) ClaimN(k int) RecordClaims[T] {
	return RecordClaims[T]{r.l.ClaimN(r.typ, int(unsafe.Sizeof(*new(T))), k)}
}

// RecordClaims is a run of records Records.ClaimN claimed; like Claims,
// valid until the Log's next Commit or Abort.
type RecordClaims[T any] struct{ c Claims }

// Len returns how many records c holds.
func (c RecordClaims[T]) Len() int { return c.c.k }

// At writes the i-th record's header and returns its payload (0 ≤ i <
// Len()) as a T to fill (every field: it holds an old record's bytes);
// other i get nil. It inlines. As with Claims.At, every record of the run
// must be taken with At before Commit.
func (c RecordClaims[T]) At(i int) *T {
	if uint(i) >= uint(c.c.k) {
		return nil
	}
	p := unsafe.Add(c.c.at, uintptr(i)*c.c.step)
	c.c.header(p)
	return (*T)(p)
}
