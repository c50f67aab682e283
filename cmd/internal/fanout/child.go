package fanout

import (
	"encoding/json"
	"fmt"
	"os"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/spinwire/spinwire/asm"
	"github.com/spinwire/spinwire/layout"
	"github.com/spinwire/spinwire/spin"
	"github.com/spinwire/spinwire/topic"
)

const childEnv = "SPINWIRE_FANOUT_CHILD" // "kind subs cpu first procs dir"

// ChildIfAsked makes this process a subscriber process if Run started it
// as one: it subscribes, polls until every subscription has seen the last
// message, prints its report and exits. A binary that calls Run or
// RunRing calls it first thing.
func ChildIfAsked() {
	spec := os.Getenv(childEnv)
	if spec == "" {
		return
	}
	var kind, dir string
	var subs, cpu, first, procs int
	if _, err := fmt.Sscanf(spec, "%s %d %d %d %d %s", &kind, &subs, &cpu, &first, &procs, &dir); err != nil {
		fmt.Fprintln(os.Stderr, "fanout child:", spec, err)
		os.Exit(1)
	}
	if err := runChild(kind, subs, cpu, first, procs, dir); err != nil {
		fmt.Fprintln(os.Stderr, "fanout child:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// tally counts the process's messages and latencies. Each stamped
// message is timed at one subscription, in turn — the one its Timer
// names, numbered over every process — and a handler only notes the TSC
// ticks since the stamp; the histogram takes them after each round of
// polls (flush). So no subscription's receipt waits for the others'
// measuring: the k-th of 8 polled in turn would otherwise wait for k-1
// clock reads (RDTSCP: about 21 ns on an EPYC VM, BenchmarkTicks) and
// k-1 histogram updates, which are the benchmark's cost, not the topic's.
type tally struct {
	hist     *hdrhistogram.Histogram
	received uint64
	done     bool
	perNs    float64
	pending  []int64 // TSC ticks, stamp to receipt, not yet in hist
	cur      uint64  // the number of the subscription being polled
}

// take is the handler's rare case: the last message, or one this
// subscription times. count, the common case, is inlined in the func
// value the subscriptions share (runChild), so that a message only
// counted costs no call but the topic's to it (a method value, t.take,
// would add its wrapper's).
func (t *tally) take(m *Msg) {
	if m.Seq == stopSeq {
		t.done = true
		return
	}
	t.received++
	if len(t.pending) == cap(t.pending) {
		t.flush()
	}
	t.pending = append(t.pending, int64(asm.Ticks())-m.Stamp)
}

// count counts m and reports true, unless m is the last message or one
// this subscription times.
func (t *tally) count(m *Msg) bool {
	if m.Seq == stopSeq || (m.Stamp != 0 && m.Timer == t.cur) {
		return false
	}
	t.received++
	return true
}

// acquire takes up to pollLimit messages of s (a reliable topic) in
// place with no call per message — Acquire and At instead of
// PollInPlace's handler; the next Acquire gives them back. 8 reliable
// subscriptions in one process: BenchmarkPollLocal/acquire.
func (t *tally) acquire(s *topic.Subscriber[Msg]) int {
	n := s.Acquire(pollLimit)
	for i := range n {
		if m := s.At(i); !t.count(m) {
			t.take(m)
		}
	}
	return n
}

// flush records the pending samples.
func (t *tally) flush() {
	for _, d := range t.pending {
		t.hist.RecordValue(max(1, int64(float64(d)/t.perNs)))
	}
	t.pending = t.pending[:0]
}

// runChild subscribes subs times (numbered first, first+1, … over every
// process) or, for kind "ring", opens the ring, and polls until the last
// message. A process that shares its CPU with other subscriber processes
// (procs > 1) of a reliable topic yields the CPU when it finds nothing
// (spin.Yield), so that the others catch up and the publisher, which
// waits for the slowest, goes on; under lossy it spins, which keeps the
// latency of what the running process receives low (pingpong -mode
// fanout -subs 256 -procs 4, both policies: docs/benchmarks.md).
func runChild(kind string, subs, cpu, first, procs int, dir string) error {
	t := &tally{hist: NewHist(), perNs: asm.TicksPerSecond() / 1e9, pending: make([]int64, 0, 1<<16)}
	var polls []func() (int, uint64, bool)
	var idler spin.Idler = spin.BusySpin{}
	take := func(m *Msg) { // made once: a func value made per call may allocate
		if !t.count(m) {
			t.take(m)
		}
	}
	switch kind {
	case "topic":
		for i := range subs {
			s, err := topic.Subscribe[Msg]("fanout", topic.SubscribeOptions{Dir: dir})
			if err != nil {
				return err
			}
			defer s.Close()
			done, num, reliable := false, uint64(first+i), s.Policy() == topic.Reliable
			if reliable && procs > 1 {
				idler = spin.Yield{}
			}
			polls = append(polls, func() (int, uint64, bool) {
				t.done, t.cur = false, num
				var n int
				if reliable {
					n = t.acquire(s)
				} else {
					n, _ = s.PollInPlace(take, pollLimit)
				}
				done = done || t.done
				return n, s.Lost(), done
			})
		}
	case "ring":
		seg, err := layout.Open(layout.Options{Name: "fanout-ring", Dir: dir})
		if err != nil {
			return err
		}
		defer seg.Close()
		r, err := spin.OpenRing[Msg](seg.Body())
		if err != nil {
			return err
		}
		done := false
		polls = append(polls, func() (int, uint64, bool) {
			t.done, t.cur = false, 0
			n := r.Poll(0, take)
			done = done || t.done
			return n, 0, done
		})
	}
	fmt.Println("READY")
	var lost uint64
	err := onCPU(cpu, func() error {
		lost = pollAll(polls, t.flush, idler)
		return nil
	})
	if err != nil {
		return err
	}
	return json.NewEncoder(os.Stdout).Encode(report{Received: t.received, Lost: lost, Hist: t.hist.Export()})
}

// pollLimit is how many messages a subscription takes per turn: 256
// 64-byte slots (16 KiB) stay in the L1 cache while the process's other
// subscriptions read them after the first. Taking all there were (up to
// the 1024 of the topic) made the others read from L2: 8 reliable
// subscriptions, host's slow state, 20.0–21.8 → 26.3–27.1 M msg/s.
const pollLimit = 256

// pollAll polls every subscription in turn until each has seen the last
// message (or a minute passes), and returns their losses; after each round
// that found any, flush; after each that found none, idler.Idle.
func pollAll(polls []func() (int, uint64, bool), flush func(), idler spin.Idler) uint64 {
	deadline := time.Now().Add(time.Minute)
	for i := 0; ; i++ {
		work, all := 0, true
		var lost uint64
		for _, p := range polls {
			n, l, done := p()
			work += n
			lost += l
			all = all && done
		}
		if work > 0 {
			flush()
		}
		if all || (i&0xffff == 0 && time.Now().After(deadline)) {
			return lost
		}
		idler.Idle(work)
	}
}
