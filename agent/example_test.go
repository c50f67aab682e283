package agent_test

import (
	"context"
	"fmt"

	"github.com/spinwire/spinwire/agent"
	"github.com/spinwire/spinwire/layout"
	"github.com/spinwire/spinwire/spin"
)

// Tick is a fixed-layout message.
type Tick struct {
	Seq   uint64
	Price int64
}

func ExampleAgent() {
	n, _, _ := spin.RingLength[Tick](64, spin.InSlot)
	seg, _ := layout.Create(n, layout.Options{})
	defer seg.Close()
	ring, _ := spin.NewRing[Tick](seg.Body()[:n], spin.RingOptions{Capacity: 64})
	for i := range uint64(3) {
		ring.TryPublish(&Tick{Seq: i})
	}

	// A consumer loop on a locked thread (cpu -1: not pinned, for the
	// example; give it a CPU from affinity.Plan in a real program).
	ctx, cancel := context.WithCancel(context.Background())
	var got uint64
	a := &agent.Agent{Name: "consumer"}
	err := a.Run(ctx, -1, spin.BusySpin{}, func() int {
		n := ring.Poll(0, func(*Tick) { got++ })
		if got == 3 {
			cancel()
		}
		return n
	})
	fmt.Println(err, got)
	// Output: <nil> 3
}
