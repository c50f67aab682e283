package spin_test

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync"

	"github.com/spinwire/spinwire/asm"
	"github.com/spinwire/spinwire/layout"
	"github.com/spinwire/spinwire/spin"
)

// Tick is a fixed-layout message: sized integers, explicit padding. At 24
// bytes it shares one cache line with the ring's sequence word.
type Tick struct {
	Seq   uint64
	Price int64
	Qty   int32
	Side  uint8
	_     [3]byte
}

func Example() {
	// The creator sizes a segment for the ring and formats it.
	n, _, _ := spin.RingLength[Tick](1024, spin.InSlot)
	seg, err := layout.Create(n, layout.Options{Fingerprint: layout.MustOf[Tick]().Fingerprint})
	if err != nil {
		panic(err)
	}
	defer seg.Close()
	ring, err := spin.NewRing[Tick](seg.Body()[:n], spin.RingOptions{Capacity: 1024})
	if err != nil {
		panic(err)
	}
	// Another process would receive seg.Fd() and call layout.OpenFd, then
	// spin.OpenRing[Tick] over the same bytes to consume (a second consumer
	// is refused with spin.ErrConsumerTaken), or spin.OpenRingProducer to
	// produce.

	// Producer: copy in, or claim a slot and fill it in place.
	ring.TryPublish(&Tick{Seq: 1, Price: 10125, Qty: 5})
	if t := ring.Claim(); t != nil {
		*t = Tick{Seq: 2, Price: 10126, Qty: 7}
		ring.Commit()
	}

	// Consumer: everything available, one head store.
	ring.Poll(0, func(t *Tick) { fmt.Println(t.Seq, t.Price, t.Qty) })
	if err := ring.Err(); err != nil {
		panic(err) // the producer wrote what no correct producer writes
	}
	// Output:
	// 1 10125 5
	// 2 10126 7
}

func ExampleBackoff() {
	n, _, _ := spin.RingLength[Tick](64, spin.InSlot)
	seg, _ := layout.Create(n, layout.Options{})
	defer seg.Close()
	ring, _ := spin.NewRing[Tick](seg.Body()[:n], spin.RingOptions{Capacity: 64})

	// Spin 10 000 polls, yield 100, then park on the ring's futex word: the
	// publisher wakes it only if it has declared itself parked.
	idle := &spin.Backoff{Parker: ring}
	ring.TryPublish(&Tick{Seq: 7})
	idle.Idle(ring.Poll(0, func(t *Tick) { fmt.Println("tick", t.Seq) }))
	// Output: tick 7
}

// A Log producer's fastest loop: claim the batch with one call, fill each
// record with a copy that inlines, publish with one Commit.
func ExampleLog_ClaimN() {
	n, _ := spin.LogLength(1 << 16)
	l, err := spin.NewLog(make([]byte, n), 1<<16)
	if err != nil {
		panic(err)
	}
	msg := []byte("a 40-byte payload, copied without a call") // 32…64 bytes: asm.CopyLine
	c := l.ClaimN(spin.DefaultRecordType, len(msg), 64)
	for i := range c.Len() {
		asm.CopyLine(c.At(i), msg)
	}
	l.Commit()

	// The same for fixed-layout records: a typed copy.
	ticks, err := spin.RecordsOf[Tick](l, 2)
	if err != nil {
		panic(err)
	}
	r := ticks.ClaimN(3)
	for i := range r.Len() {
		*r.At(i) = Tick{Seq: uint64(i), Price: 10125}
	}
	l.Commit()

	bytes, typed := 0, 0
	l.Poll(0, func(typ uint32, b []byte) {
		if t := ticks.Of(typ, b); t != nil {
			typed++
		} else if string(b) == string(msg) {
			bytes++
		}
	})
	fmt.Println(bytes, "byte records,", typed, "ticks")
	// Output: 64 byte records, 3 ticks
}

// An MPSC ring: any number of producers — goroutines here, processes
// that OpenMPSC the same segment in practice — and one consumer.
func ExampleMPSC() {
	n, _, _ := spin.RingLength[Tick](256, spin.InSlot) // an MPSC ring has the in-slot layout
	seg, err := layout.Create(n, layout.Options{})
	if err != nil {
		panic(err)
	}
	defer seg.Close()
	q, err := spin.NewMPSC[Tick](seg.Body(), spin.MPSCOptions{Capacity: 256})
	if err != nil {
		panic(err)
	}

	var wg sync.WaitGroup
	for p := range int32(4) {
		wg.Go(func() {
			for i := range int64(10) {
				for !q.TryPublish(&Tick{Seq: uint64(p), Price: i, Qty: 1}) {
					runtime.Gosched() // full: the consumer has not caught up
				}
			}
		})
	}
	wg.Wait()

	var qty int32
	perProducer := map[uint64]int64{} // each producer's messages come in its own order
	q.Poll(0, func(t *Tick) {
		qty += t.Qty
		if t.Price != perProducer[t.Seq] {
			panic("out of order")
		}
		perProducer[t.Seq]++
	})
	fmt.Println(qty, len(perProducer), q.Len(), q.Skipped())
	// Output: 40 4 0 0
}

// A ring shared by name: the creator produces, another process opens the
// segment by its name and consumes. The consumer side has one owner at a
// time: a second OpenRing is refused while the first handle holds it, and
// succeeds once that handle is closed (or its process has died).
func ExampleOpenRing() {
	dir, _ := os.MkdirTemp("", "ring-example")
	defer os.RemoveAll(dir)
	fp := layout.MustOf[Tick]().Fingerprint
	n, _, _ := spin.RingLength[Tick](256, spin.InSlot)
	seg, err := layout.Create(n, layout.Options{Dir: dir, Name: "ticks", Fingerprint: fp})
	if err != nil {
		panic(err)
	}
	defer seg.Close()
	producer, err := spin.NewRing[Tick](seg.Body()[:n], spin.RingOptions{Capacity: 256})
	if err != nil {
		panic(err)
	}

	// In the consuming process: the segment by name, the ring over it.
	cseg, err := layout.Open(layout.Options{Dir: dir, Name: "ticks", Fingerprint: fp})
	if err != nil {
		panic(err)
	}
	defer cseg.Close()
	consumer, err := spin.OpenRing[Tick](cseg.Body()[:n])
	if err != nil {
		panic(err)
	}
	_, err = spin.OpenRing[Tick](cseg.Body()[:n])
	fmt.Println("second consumer refused:", errors.Is(err, spin.ErrConsumerTaken))

	// A batch: three slots claimed with one call, published with one
	// Commit.
	k := producer.ClaimN(3)
	for i := range k {
		*producer.Claimed(i) = Tick{Seq: uint64(i + 1), Price: 10_000 + int64(i)}
	}
	producer.Commit()
	consumer.Poll(2, func(t *Tick) { fmt.Println("first consumer:", t.Seq, t.Price) })

	// The first consumer lets go; the next takes over where it stopped.
	consumer.Close()
	next, err := spin.OpenRing[Tick](cseg.Body()[:n])
	if err != nil {
		panic(err)
	}
	next.Poll(0, func(t *Tick) { fmt.Println("next consumer:", t.Seq, t.Price) })
	// Output:
	// second consumer refused: true
	// first consumer: 1 10000
	// first consumer: 2 10001
	// next consumer: 3 10002
}

// Trade is a second record type in the same Log as Tick.
type Trade struct {
	Seq, Qty uint64
}

// A Log carrying records of two fixed-layout types and raw bytes side by
// side; the consumer tells them apart by type. A claim that is aborted is
// never seen.
func ExampleRecordsOf() {
	n, _ := spin.LogLength(4096)
	l, err := spin.NewLog(make([]byte, n), 4096)
	if err != nil {
		panic(err)
	}
	ticks, err := spin.RecordsOf[Tick](l, 1)
	if err != nil {
		panic(err)
	}
	trades, err := spin.RecordsOf[Trade](l, 2)
	if err != nil {
		panic(err)
	}

	ticks.TryWrite(&Tick{Seq: 1, Price: 10_000})
	if t := ticks.Claim(); t != nil {
		*t = Tick{Seq: 99} // changed our mind
		l.Abort()
	}
	c := trades.ClaimN(2)
	for i := range c.Len() {
		*c.At(i) = Trade{Seq: uint64(i + 2), Qty: 100 * uint64(i+1)}
	}
	l.Commit()
	l.TryWrite(3, []byte("end of batch"))

	l.Poll(0, func(typ uint32, b []byte) {
		switch {
		case ticks.Of(typ, b) != nil:
			t := *ticks.Of(typ, b) // copied out before use
			fmt.Println("tick", t.Seq, t.Price)
		case trades.Of(typ, b) != nil:
			t := *trades.Of(typ, b)
			fmt.Println("trade", t.Seq, t.Qty)
		default:
			fmt.Printf("type %d: %s\n", typ, b)
		}
	})
	// Output:
	// tick 1 10000
	// trade 2 100
	// trade 3 200
	// type 3: end of batch
}
