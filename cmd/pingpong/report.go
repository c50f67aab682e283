package main

import (
	"encoding/json"
	"fmt"
	"io"
	"runtime"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/spinwire/spinwire/affinity"
	"github.com/spinwire/spinwire/asm"
	"github.com/spinwire/spinwire/spin"
)

// result is one transport's line: the schema of `pingpong -json`, which
// the floor programs print too. Latency figures are the median over rounds
// of each round's exact percentile; max is the largest seen; over_10us is
// the share of all round trips above 10 µs.
type result struct {
	Transport  string  `json:"transport"`
	Mode       string  `json:"mode"`
	Size       int     `json:"size"`
	N          int     `json:"n"`
	CPUs       [2]int  `json:"cpus"`
	P50        int64   `json:"p50_ns"`
	P90        int64   `json:"p90_ns"`
	P99        int64   `json:"p99_ns"`
	P999       int64   `json:"p999_ns"`
	P9999      int64   `json:"p9999_ns"`
	Max        int64   `json:"max_ns"`
	Mean       float64 `json:"mean_ns"`
	Over10us   float64 `json:"over_10us"`
	MsgsPerSec float64 `json:"msgs_per_sec"`
	Batch      int     `json:"batch,omitempty"`
	Rounds     int     `json:"rounds,omitempty"`
	Options    options `json:"options,omitzero"`

	p50s []int64 // per round, for the table's spread column
}

// options are a transport's settings, as run.
type options struct {
	Idle     string `json:"idle,omitempty"`
	Agent    string `json:"agent,omitempty"`
	Protocol string `json:"protocol,omitempty"`
	Slots    int    `json:"slots,omitempty"`
	Path     string `json:"path,omitempty"` // how the message travels
}

var quantiles = []struct {
	q   float64
	set func(*result, int64)
}{
	{0.50, func(r *result, v int64) { r.P50 = v }},
	{0.90, func(r *result, v int64) { r.P90 = v }},
	{0.99, func(r *result, v int64) { r.P99 = v }},
	{0.999, func(r *result, v int64) { r.P999 = v }},
	{0.9999, func(r *result, v int64) { r.P9999 = v }},
}

// percentile returns the q-quantile of sorted samples, by the floor
// programs' rule: sorted[n*q].
func percentile(sorted []uint64, q float64) uint64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted)) * q)
	return sorted[min(i, len(sorted)-1)]
}

func ns(ticks uint64) int64 { return int64(asm.TicksToNanos(ticks) + 0.5) }

// roundResult turns one round's samples into a result.
func roundResult(name string, c *config, s sample) result {
	if s.floor != nil {
		return *s.floor
	}
	r := result{Transport: name, Mode: c.Mode, Size: c.Size, N: s.n, CPUs: c.CPUs}
	if s.elapsed > 0 {
		r.MsgsPerSec = float64(s.n) / (asm.TicksToNanos(s.elapsed) / 1e9)
	}
	if c.Mode != "latency" || len(s.ticks) == 0 {
		return r
	}
	sorted := slices.Clone(s.ticks)
	slices.Sort(sorted)
	for _, q := range quantiles {
		q.set(&r, ns(percentile(sorted, q.q)))
	}
	r.Max = ns(sorted[len(sorted)-1])
	var sum, over uint64
	limit := uint64(10_000 / asm.TicksToNanos(1))
	for _, t := range sorted {
		sum += t
		if t > limit {
			over++
		}
	}
	r.Mean = asm.TicksToNanos(sum) / float64(len(sorted))
	r.Over10us = float64(over) / float64(len(sorted))
	return r
}

func median[T int64 | float64](v []T) T {
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	return s[len(s)/2]
}

// summarise combines a transport's rounds: medians of the per-round
// figures, the largest max, the overall share over 10 µs, the total n.
func summarise(name string, c *config, rounds []sample) result {
	var rs []result
	for _, s := range rounds {
		rs = append(rs, roundResult(name, c, s))
	}
	out := rs[0]
	out.Rounds = len(rs)
	field := func(get func(result) int64) int64 {
		v := make([]int64, len(rs))
		for i, r := range rs {
			v[i] = get(r)
		}
		return median(v)
	}
	out.P50 = field(func(r result) int64 { return r.P50 })
	out.P90 = field(func(r result) int64 { return r.P90 })
	out.P99 = field(func(r result) int64 { return r.P99 })
	out.P999 = field(func(r result) int64 { return r.P999 })
	out.P9999 = field(func(r result) int64 { return r.P9999 })
	var n int
	var over, mean float64
	rates := make([]float64, len(rs))
	out.p50s = nil
	for i, r := range rs {
		n += r.N
		over += r.Over10us * float64(r.N)
		mean += r.Mean * float64(r.N)
		out.Max = max(out.Max, r.Max)
		rates[i] = r.MsgsPerSec
		out.p50s = append(out.p50s, r.P50)
	}
	out.N = n
	out.Over10us = over / float64(n)
	out.Mean = mean / float64(n)
	out.MsgsPerSec = median(rates)
	if c.Mode == "throughput" {
		out.Batch = c.Batch
	}
	out.Options = transportOptions(name, c)
	return out
}

func transportOptions(name string, c *config) options {
	switch name {
	case "spinwire":
		p := spin.DefaultProtocol.String()
		if c.Protocol != "" {
			p = c.Protocol
		}
		var path string
		switch {
		case !ringSize(c.Size):
			path, p = fmt.Sprintf("log: %d-byte records (8-byte header)", logPayload(c)+spin.RecordHeaderLength), ""
		case protocol(c) == spin.InSlot:
			path = fmt.Sprintf("ring: %d-byte message + 8-byte sequence", 8*ringWords(c))
		default:
			path = fmt.Sprintf("ring: %d-byte message", 8*ringWords(c))
		}
		return options{Idle: c.Idle, Agent: c.Agent, Protocol: p, Slots: c.Slots, Path: path}
	case "raw":
		return options{Path: "two atomic words, 8 bytes"}
	}
	return options{}
}

func writeJSON(w io.Writer, rs []result) error {
	enc := json.NewEncoder(w)
	for _, r := range rs {
		if err := enc.Encode(r); err != nil {
			return err
		}
	}
	return nil
}

// writeHeader says what was measured where: CPUs, their relation, the
// clock, the Go runtime's state.
func writeHeader(w io.Writer, c *config, topo *affinity.Topo) {
	fmt.Fprintf(w, "# pingpong %s: %s, %d B messages, %d %s over %d interleaved rounds (+%d warm-up each, discarded)\n",
		version(), c.Mode, c.Size, c.N, map[bool]string{true: "round trips", false: "messages"}[c.Mode == "latency"], c.Rounds, c.Warmup)
	for _, line := range strings.Split(strings.TrimRight(topo.Describe(c.CPUs[0], c.CPUs[1]), "\n"), "\n") {
		fmt.Fprintf(w, "# %s\n", line)
	}
	fmt.Fprintf(w, "# clock: %s, %.3f GHz; %s; GOMAXPROCS=%d; async preemption %s; GC off; agent %s\n",
		asm.ClockSource(), asm.TicksPerSecond()/1e9, runtime.Version(), runtime.GOMAXPROCS(0),
		map[bool]string{true: "off", false: "on"}[spin.AsyncPreemptOff()], c.Agent)
}

// dur formats nanoseconds compactly: 312ns, 4.51µs, 1.20ms, 2.01s.
func dur(n int64) string {
	switch {
	case n < 10_000:
		return fmt.Sprintf("%dns", n)
	case n < 10_000_000:
		return fmt.Sprintf("%.2fµs", float64(n)/1e3)
	case n < 10_000_000_000:
		return fmt.Sprintf("%.2fms", float64(n)/1e6)
	}
	return fmt.Sprintf("%.2fs", float64(n)/1e9)
}

func rate(r float64) string {
	switch {
	case r >= 1e6:
		return fmt.Sprintf("%.2fM", r/1e6)
	case r >= 1e3:
		return fmt.Sprintf("%.1fk", r/1e3)
	}
	return fmt.Sprintf("%.0f", r)
}

func writeTable(w io.Writer, c *config, rs []result) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	var base *result
	for i := range rs {
		if rs[i].Transport == "spinwire" {
			base = &rs[i]
		}
	}
	if c.Mode == "throughput" {
		fmt.Fprintln(tw, "transport\tbatch\tmsgs/s\t× spinwire\t")
		for _, r := range rs {
			ratio := "-"
			if base != nil && base.MsgsPerSec > 0 {
				ratio = fmt.Sprintf("%.2f", r.MsgsPerSec/base.MsgsPerSec)
			}
			fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t\n", r.Transport, r.Batch, rate(r.MsgsPerSec), ratio)
		}
		return tw.Flush()
	}
	fmt.Fprintln(tw, "transport\tp50\tp90\tp99\tp99.9\tp99.99\tmax\t>10µs\trt/s\tp50 × spinwire\tp50 by round\t")
	for _, r := range rs {
		ratio := "-"
		if base != nil && base.P50 > 0 {
			ratio = fmt.Sprintf("%.2f", float64(r.P50)/float64(base.P50))
		}
		var byRound []string
		for _, p := range r.p50s {
			byRound = append(byRound, dur(p))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%.4f%%\t%s\t%s\t%s\t\n", r.Transport,
			dur(r.P50), dur(r.P90), dur(r.P99), dur(r.P999), dur(r.P9999), dur(r.Max),
			100*r.Over10us, rate(r.MsgsPerSec), ratio, strings.Join(byRound, " "))
	}
	return tw.Flush()
}
