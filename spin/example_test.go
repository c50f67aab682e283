package spin_test

import (
	"fmt"

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
