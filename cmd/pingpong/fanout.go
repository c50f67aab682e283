package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/spinwire/spinwire/cmd/internal/fanout"
	"github.com/spinwire/spinwire/topic"
)

// fanoutResult is fanout mode's JSON line.
type fanoutResult struct {
	Mode       string  `json:"mode"`
	Subs       int     `json:"subs"`
	Procs      int     `json:"procs"`
	Policy     string  `json:"policy"`
	Rounds     int     `json:"rounds"`
	MsgsPerSec float64 `json:"msgs_per_sec"` // the publisher's rate, stream phase
	P50        int64   `json:"p50_ns"`       // publish → receive, each message at one subscription, in turn over all
	P99        int64   `json:"p99_ns"`
	P9999      int64   `json:"p9999_ns"`
	Lost       uint64  `json:"lost"` // over every subscription, summed over rounds
	// The baseline: one spin.Ring to one consumer process, same rounds.
	RingMsgsPerSec float64 `json:"ring_msgs_per_sec"`
	RingP50        int64   `json:"ring_p50_ns"`
	RingP99        int64   `json:"ring_p99_ns"`
}

// measureFanout runs -mode fanout: per round, the ring baseline, then the
// topic.
func measureFanout(c *config, stdout, _ io.Writer) error {
	if err := setupProcessModes(c); err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "pingpong-fanout")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	pol := topic.Lossy
	if c.Policy == "reliable" {
		pol = topic.Reliable
	}
	cfg := fanout.Config{Subs: c.Subs, Procs: c.Procs, Policy: pol, N: c.Msgs, Paced: c.Paced, Gap: 2 * time.Microsecond,
		CPUs: [2]int{c.CPUs[0], c.CPUs[1]}, Dir: dir, Timeout: c.Timeout}
	var rings, topics []*fanout.Result
	for r := range c.Rounds {
		ring, err := fanout.RunRing(cfg)
		if err != nil {
			return fmt.Errorf("round %d, ring: %w", r+1, err)
		}
		tp, err := fanout.Run(cfg)
		if err != nil {
			return fmt.Errorf("round %d, topic: %w", r+1, err)
		}
		rings, topics = append(rings, ring), append(topics, tp)
	}
	out := summariseFanout(c, rings, topics)
	if c.JSON {
		return json.NewEncoder(stdout).Encode(out)
	}
	return writeFanout(stdout, out)
}

// summariseFanout takes medians over the rounds.
func summariseFanout(c *config, rings, topics []*fanout.Result) fanoutResult {
	med := func(rs []*fanout.Result, f func(*fanout.Result) float64) float64 {
		v := make([]float64, len(rs))
		for i, r := range rs {
			v[i] = f(r)
		}
		slices.Sort(v)
		return v[len(v)/2]
	}
	q := func(rs []*fanout.Result, p float64) int64 {
		return int64(med(rs, func(r *fanout.Result) float64 { return float64(r.Hist.ValueAtQuantile(p)) }))
	}
	out := fanoutResult{Mode: "fanout", Subs: c.Subs, Procs: c.Procs, Policy: c.Policy, Rounds: len(topics),
		MsgsPerSec: med(topics, func(r *fanout.Result) float64 { return r.MsgsPerSec }),
		P50:        q(topics, 50), P99: q(topics, 99), P9999: q(topics, 99.99),
		RingMsgsPerSec: med(rings, func(r *fanout.Result) float64 { return r.MsgsPerSec }),
		RingP50:        q(rings, 50), RingP99: q(rings, 99)}
	for _, t := range topics {
		out.Lost += t.Lost
	}
	return out
}

func writeFanout(w io.Writer, r fanoutResult) error {
	fmt.Fprintf(w, "# pingpong %s: fanout, %d subscriptions in %d processes, %s; medians of %d rounds; 56-byte messages\n",
		version(), r.Subs, r.Procs, r.Policy, r.Rounds)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "path\tpublisher msgs/s\t× ring\tp50\tp99\tp99.99\tlost\t")
	fmt.Fprintf(tw, "spin.Ring, 1 consumer\t%s\t1.00\t%s\t%s\t\t\t\n", rate(r.RingMsgsPerSec), dur(r.RingP50), dur(r.RingP99))
	fmt.Fprintf(tw, "topic, %d subscriptions\t%s\t%.2f\t%s\t%s\t%s\t%d\t\n", r.Subs, rate(r.MsgsPerSec), r.MsgsPerSec/r.RingMsgsPerSec,
		dur(r.P50), dur(r.P99), dur(r.P9999), r.Lost)
	return tw.Flush()
}
