package main

import (
	"fmt"
	"os"
	"sync"

	"github.com/spinwire/spinwire/spin"
	"github.com/spinwire/spinwire/stat"
)

// statRegistry is pingpong's counters segment with -stat, made at the
// first ring; it goes with the process.
var statRegistry = sync.OnceValue(func() *stat.Registry {
	r, err := stat.NewRegistry(stat.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "pingpong: -stat:", err)
		return nil
	}
	return r
})

// watchRings publishes a transport's two rings as pingpong.ping and
// pingpong.pong, until unwatchRings.
func watchRings[T any](ping, pong *spin.Ring[T]) {
	reg := statRegistry()
	if reg == nil {
		return
	}
	unwatchRings()
	statMu.Lock()
	defer statMu.Unlock()
	for name, r := range map[string]*spin.Ring[T]{"pingpong.ping": ping, "pingpong.pong": pong} {
		if e, err := stat.WatchRing(reg, name, r); err == nil {
			statEndpoints = append(statEndpoints, e)
		}
	}
}

// unwatchRings takes the rings out of the registry; the sampler does not
// read them after it returns (Endpoint.Close holds the registry's lock).
func unwatchRings() {
	statMu.Lock()
	defer statMu.Unlock()
	for _, e := range statEndpoints {
		e.Close()
	}
	statEndpoints = statEndpoints[:0]
}

var (
	statMu        sync.Mutex
	statEndpoints []*stat.Endpoint
)
