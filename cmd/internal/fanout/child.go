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

const childEnv = "SPINWIRE_FANOUT_CHILD" // "kind subs cpu dir"

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
	var subs, cpu int
	if _, err := fmt.Sscanf(spec, "%s %d %d %s", &kind, &subs, &cpu, &dir); err != nil {
		fmt.Fprintln(os.Stderr, "fanout child:", err)
		os.Exit(1)
	}
	if err := runChild(kind, subs, cpu, dir); err != nil {
		fmt.Fprintln(os.Stderr, "fanout child:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// tally counts the process's messages and latencies. A handler only
// notes the TSC ticks since the stamp; the histogram takes them after
// each round of polls (flush), so that recording one subscription's
// sample does not delay the next subscription's receipt — the k-th of 8
// polled in turn would otherwise wait for k-1 histogram updates, which
// are the benchmark's cost, not the topic's.
type tally struct {
	hist     *hdrhistogram.Histogram
	received uint64
	done     bool
	perNs    float64
	pending  []int64 // TSC ticks, stamp to receipt, not yet in hist
}

func (t *tally) take(m *Msg) {
	if m.Seq == stopSeq {
		t.done = true
		return
	}
	t.received++
	if m.Stamp != 0 {
		if len(t.pending) == cap(t.pending) {
			t.flush()
		}
		t.pending = append(t.pending, int64(asm.Ticks())-m.Stamp)
	}
}

// flush records the pending samples.
func (t *tally) flush() {
	for _, d := range t.pending {
		t.hist.RecordValue(max(1, int64(float64(d)/t.perNs)))
	}
	t.pending = t.pending[:0]
}

func runChild(kind string, subs, cpu int, dir string) error {
	t := &tally{hist: NewHist(), perNs: asm.TicksPerSecond() / 1e9, pending: make([]int64, 0, 1<<16)}
	var polls []func() (int, uint64, bool)
	take := t.take // bound once: a method value made per call may allocate
	switch kind {
	case "topic":
		for range subs {
			s, err := topic.Subscribe[Msg]("fanout", topic.SubscribeOptions{Dir: dir})
			if err != nil {
				return err
			}
			defer s.Close()
			done := false
			polls = append(polls, func() (int, uint64, bool) {
				t.done = false
				n, _ := s.Poll(take, 0)
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
			t.done = false
			n := r.Poll(0, take)
			done = done || t.done
			return n, 0, done
		})
	}
	fmt.Println("READY")
	var lost uint64
	err := onCPU(cpu, func() error {
		lost = pollAll(polls, t.flush)
		return nil
	})
	if err != nil {
		return err
	}
	return json.NewEncoder(os.Stdout).Encode(report{Received: t.received, Lost: lost, Hist: t.hist.Export()})
}

// pollAll polls every subscription in turn until each has seen the last
// message (or a minute passes), and returns their losses; after each round
// that found any, flush.
func pollAll(polls []func() (int, uint64, bool), flush func()) uint64 {
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
		spin.BusySpin{}.Idle(work)
	}
}
