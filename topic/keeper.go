package topic

import (
	"slices"
	"sync"
	"time"
)

// One goroutine looks after every publisher's tracker in the process: a
// ticker every livenessEvery, and each tracker's look in turn. With a
// goroutine and a ticker each, every publisher cost a wakeup a
// millisecond: a hundred idle ones took 20 % of a CPU, 11 % with one
// goroutine for all (docs/benchmarks.md, "The tracker at rest").

// keeper is the process's housekeeping goroutine and the trackers it
// looks after.
type keeper struct {
	mu       sync.Mutex
	trackers []*tracker
	running  bool       // the goroutine runs: it stops when trackers is empty at a tick
	round    []*tracker // the goroutine's copy of trackers for a round
}

var housekeeping keeper

// add has the keeper look after t from its next tick on.
func (k *keeper) add(t *tracker) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.trackers = append(k.trackers, t)
	if !k.running {
		k.running = true
		go k.run()
	}
}

// remove stops new looks at t; one may still be under way (tracker.close
// waits it out).
func (k *keeper) remove(t *tracker) {
	k.mu.Lock()
	k.trackers = slices.DeleteFunc(k.trackers, func(x *tracker) bool { return x == t })
	k.mu.Unlock()
}

func (k *keeper) run() {
	tick := time.NewTicker(livenessEvery)
	defer tick.Stop()
	for range tick.C {
		k.mu.Lock()
		if len(k.trackers) == 0 {
			k.running = false
			k.mu.Unlock()
			return
		}
		k.round = append(k.round[:0], k.trackers...)
		k.mu.Unlock()
		for _, t := range k.round {
			t.lookOnce()
		}
		clear(k.round) // closed trackers are not kept alive
	}
}
