package spin_test

import (
	"fmt"
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
