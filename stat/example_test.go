package stat_test

import (
	"fmt"
	"os"

	"github.com/spinwire/spinwire/stat"
)

// A process publishes an endpoint of its own counters and a latency
// histogram; another (spinstat, here the same process) reads them back
// with Scan, without any lock the writer takes.
func Example() {
	dir, _ := os.MkdirTemp("", "stat-example")
	defer os.RemoveAll(dir)

	reg, err := stat.NewRegistry(stat.Options{Dir: dir})
	if err != nil {
		panic(err)
	}
	defer reg.Close()
	ep, err := reg.Register(stat.KindCustom, "orders", "Order", 0, nil)
	if err != nil {
		panic(err)
	}
	defer ep.Close()
	ep.Set(0, 42) // an atomic store: counters without a Sampler are set by hand
	for _, ns := range []int64{300, 310, 320, 5000} {
		ep.Histogram().Record(ns)
	}

	procs, err := stat.Scan(dir)
	if err != nil {
		panic(err)
	}
	for _, p := range procs {
		for _, e := range p.Endpoints {
			lat := e.Latency() // each figure the low edge of its bucket
			fmt.Println(p.PID == uint32(os.Getpid()), e.Kind, e.Name, e.Type, e.Counters[0])
			fmt.Printf("%d samples, p50 %d ns, max %d ns\n", lat.Count, lat.P50, lat.Max)
		}
	}
	// Output:
	// true custom orders Order 42
	// 4 samples, p50 256 ns, max 4096 ns
}
