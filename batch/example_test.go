package batch_test

import (
	"fmt"

	"github.com/spinwire/spinwire/batch"
	"github.com/spinwire/spinwire/layout"
	"github.com/spinwire/spinwire/spin"
)

type Tick struct {
	Seq   uint64
	Price int64
}

func Example() {
	n, _, _ := spin.RingLength[Tick](1024, spin.Cursors)
	seg, _ := layout.Create(n, layout.Options{})
	defer seg.Close()
	ring, _ := spin.NewRing[Tick](seg.Body()[:n], spin.RingOptions{Capacity: 1024, Protocol: spin.Cursors})

	// Producer: claim 16 slots, fill them in shared memory, one release store.
	pub := batch.NewPublisher(ring)
	k := pub.Claim(16)
	for i := range k {
		*pub.Slot(i) = Tick{Seq: uint64(i), Price: 100 + int64(i)}
	}
	pub.Commit()

	// Consumer: everything available, one head store.
	var sum int64
	got := batch.Drain(ring, 0, func(t *Tick) { sum += t.Price })
	fmt.Println(got, sum)
	// Output: 16 1720
}
