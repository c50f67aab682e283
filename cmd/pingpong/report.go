package main

import (
	"encoding/json"
	"fmt"
	"io"
	"runtime"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spinwire/spinwire/affinity"
	"github.com/spinwire/spinwire/agent"
	"github.com/spinwire/spinwire/asm"
)

// result is one transport's line: the schema of `pingpong -json`, which
// the floor programs print too. Latency figures are the median over rounds
// of each round's percentile, read from the round's HdrHistogram (3
// significant digits; the floor programs compute theirs exactly); max is
// the largest seen; over_10us is the share of all round trips above 10 µs.
type result struct {
	Transport  string   `json:"transport"`
	Mode       string   `json:"mode"`
	Size       int      `json:"size"`
	N          int      `json:"n"`
	CPUs       [2]int   `json:"cpus"`
	P50        int64    `json:"p50_ns"`
	P90        int64    `json:"p90_ns"`
	P99        int64    `json:"p99_ns"`
	P999       int64    `json:"p999_ns"`
	P9999      int64    `json:"p9999_ns"`
	Max        int64    `json:"max_ns"`
	Mean       float64  `json:"mean_ns"`
	Over10us   float64  `json:"over_10us"`
	MsgsPerSec float64  `json:"msgs_per_sec"`
	Batch      int      `json:"batch,omitempty"`
	Rounds     int      `json:"rounds,omitempty"`
	Rate       float64  `json:"rate,omitempty"`         // rate mode: messages per second asked for
	SentPerSec float64  `json:"sent_per_sec,omitempty"` // rate mode: messages per second sent (median over rounds)
	PerDrain   float64  `json:"per_drain,omitempty"`    // throughput: messages the consumer took per poll that found any (median over rounds; 1: a message at a time, right behind the producer)
	Options    options  `json:"options,omitzero"`
	Warnings   []string `json:"warnings,omitempty"` // what makes this transport's figures doubtful

	p50s []int64 // per round, for the table's spread column
}

// options are a transport's settings, as run.
type options struct {
	Idle     string `json:"idle,omitempty"`
	Agent    string `json:"agent,omitempty"`
	Protocol string `json:"protocol,omitempty"`
	Slots    int    `json:"slots,omitempty"`
	Path     string `json:"path,omitempty"`    // how the message travels
	Wait     string `json:"wait,omitempty"`    // how each side waits for the other
	Nodelay  bool   `json:"nodelay,omitempty"` // TCP_NODELAY
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
	if s.drains > 0 {
		r.PerDrain = float64(s.n) / float64(s.drains)
	}
	if s.sendSpan > 0 && s.n > 1 {
		r.SentPerSec = float64(s.n-1) / (asm.TicksToNanos(s.sendSpan) / 1e9)
	}
	if c.Mode == "throughput" || s.hist == nil || s.hist.TotalCount() == 0 {
		return r
	}
	h := s.hist
	for _, q := range quantiles {
		q.set(&r, h.ValueAtPercentile(100*q.q))
	}
	r.Max = h.Max()
	r.Mean = h.Mean()
	r.Over10us = float64(countAbove(h, 10_000)) / float64(h.TotalCount())
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
	sent := make([]float64, len(rs))
	drains := make([]float64, len(rs))
	out.p50s = nil
	out.Max = 0
	for i, r := range rs {
		n += r.N
		over += r.Over10us * float64(r.N)
		mean += r.Mean * float64(r.N)
		out.Max = max(out.Max, r.Max)
		rates[i] = r.MsgsPerSec
		sent[i] = r.SentPerSec
		drains[i] = r.PerDrain
		out.p50s = append(out.p50s, r.P50)
	}
	out.N = n
	if n > 0 {
		out.Over10us = over / float64(n)
		out.Mean = mean / float64(n)
	}
	out.MsgsPerSec = median(rates)
	out.PerDrain = median(drains)
	if c.Mode == "throughput" {
		out.Batch = c.Batch
	}
	if c.Mode == "rate" && name != "floor-c" {
		out.Rate = c.Rate
		out.SentPerSec = median(sent)
	}
	if t, ok := transports[name]; ok {
		out.Options = t.options(c)
	} else if name == "floor-c" {
		out.Options = options{Path: floorPath(c), Wait: "PAUSE and load (busy spin)"}
	}
	out.Warnings = roundWarnings(name, c, rounds, out)
	return out
}

// roundWarnings says what makes a transport's figures doubtful: a process
// found on another CPU than the one it was pinned to, rounds cut short by
// -limit, a rate the sender could not keep.
func roundWarnings(name string, c *config, rounds []sample, r result) []string {
	var w []string
	if name != "floor-c" {
		who := [4]string{"the parent at the start", "the parent at the end", "the peer at the start", "the peer at the end"}
		for k, s := range rounds {
			for i, cpu := range s.cpus {
				want := c.CPUs[i/2]
				switch {
				case want < 0:
				case cpu < 0:
					w = append(w, fmt.Sprintf("round %d: %s: CPU not reported", k+1, who[i]))
				case cpu >= 0 && cpu != want:
					w = append(w, fmt.Sprintf("round %d: %s ran on CPU %d, not on CPU %d", k+1, who[i], cpu, want))
				}
			}
		}
	}
	short := 0
	for _, s := range rounds {
		if s.short {
			short++
		}
	}
	if short > 0 {
		w = append(w, fmt.Sprintf("%d of %d rounds stopped at -limit %v before -n: %d messages measured of %d", short, len(rounds), c.Limit, r.N, c.N))
	}
	if c.Mode == "rate" && r.SentPerSec > 0 && r.SentPerSec < 0.98*c.Rate {
		w = append(w, fmt.Sprintf("sent %s messages/s of the %s asked for: the sender fell behind, and the latencies include that wait", rate(r.SentPerSec), rate(c.Rate)))
	}
	return w
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

// runInfo is what the header reports besides the config.
type runInfo struct {
	c        *config
	topo     *affinity.Topo
	machine  []string // the processor and the topology (hostLines)
	warnings []string // host-wide: CPUs, spare CPUs, load
	took     time.Duration
}

// writeHeader says what was measured where: CPUs, their relation, whether
// they were the ones used, the clock, the Go runtime's state, warnings.
func writeHeader(w io.Writer, run runInfo, rs []result) {
	c := run.c
	what := map[string]string{"latency": "round trips", "rate": "messages", "throughput": "messages"}[c.Mode]
	amount := fmt.Sprintf("%d %s per transport", c.N, what)
	if c.Duration > 0 {
		amount = fmt.Sprintf("about %v per transport", c.Duration)
	}
	fmt.Fprintf(w, "# pingpong %s: %s mode, %d B messages, %s over %d interleaved rounds", version(), c.Mode, c.Size, amount, c.Rounds)
	if c.Mode == "rate" {
		fmt.Fprintf(w, ", sent at %s/s (latency from each message's intended send time)", rate(c.Rate))
	}
	if c.Mode == "throughput" {
		fmt.Fprintf(w, ", batch %d", c.Batch)
	}
	fmt.Fprintln(w)
	if c.Mode != "throughput" {
		wu := fmt.Sprintf("%d round trips", c.Warmup)
		switch {
		case c.Warmup == 0:
			wu = "none"
		case c.WarmupTime > 0 && c.Warmup >= 10_000_000:
			wu = c.WarmupTime.String()
		case c.WarmupTime > 0:
			wu += " or " + c.WarmupTime.String() + ", whichever ends first"
		}
		fmt.Fprintf(w, "# warm-up before each round, discarded: %s", wu)
		if c.Limit > 0 {
			fmt.Fprintf(w, "; -limit %v per transport", c.Limit)
		}
		fmt.Fprintln(w)
	}
	for _, line := range run.machine {
		fmt.Fprintf(w, "# %s\n", line)
	}
	if run.topo != nil {
		for line := range strings.SplitSeq(strings.TrimRight(run.topo.Describe(c.CPUs[0], c.CPUs[1]), "\n"), "\n") {
			fmt.Fprintf(w, "# %s\n", line)
		}
	}
	moved := 0
	for _, r := range rs {
		for _, s := range r.Warnings {
			if strings.Contains(s, "ran on CPU") || strings.Contains(s, "CPU not reported") {
				moved++
			}
		}
	}
	if moved == 0 {
		fmt.Fprintf(w, "# CPUs checked at the start and end of every round: the parent ran on CPU %d and the peer on CPU %d throughout (floor-c pins itself, unchecked)\n", c.CPUs[0], c.CPUs[1])
	} else {
		fmt.Fprintf(w, "# CPUs checked at the start and end of every round: %d mismatching check(s), see the warnings below\n", moved)
	}
	fmt.Fprintf(w, "# clock: %s, %.3f GHz; %s; GOMAXPROCS=%d; async preemption %s; GC off; agent %s\n",
		asm.ClockSource(), asm.TicksPerSecond()/1e9, runtime.Version(), runtime.GOMAXPROCS(0),
		map[bool]string{true: "off", false: "on"}[agent.AsyncPreemptOff()], c.Agent)
	for _, s := range run.warnings {
		fmt.Fprintf(w, "# warning: %s\n", s)
	}
	for _, r := range rs {
		for _, s := range r.Warnings {
			fmt.Fprintf(w, "# warning: %s: %s\n", r.Transport, s)
		}
	}
}

// writePaths lists how each transport carried its messages and waited.
func writePaths(w io.Writer, rs []result) {
	fmt.Fprintln(w, "# how each transport carried a message and waited:")
	width := 0
	for _, r := range rs {
		width = max(width, len(r.Transport))
	}
	for _, r := range rs {
		line := r.Options.Path
		if r.Options.Wait != "" {
			line += "; " + r.Options.Wait
		}
		fmt.Fprintf(w, "#   %-*s  %s\n", width, r.Transport, line)
	}
}

// dur formats nanoseconds compactly: 312ns, 45.10µs, 1.20ms, 2.01s.
func dur(n int64) string {
	switch {
	case n < 10_000:
		return fmt.Sprintf("%dns", n)
	case n < 1_000_000:
		return fmt.Sprintf("%.2fµs", float64(n)/1e3)
	case n < 1_000_000_000:
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

// baseline is the busy-spinning spinwire's result, the "× spinwire"
// column's reference, or nil.
func baseline(rs []result) *result {
	for i := range rs {
		if rs[i].Transport == "spinwire" {
			return &rs[i]
		}
	}
	return nil
}

func writeTable(w io.Writer, c *config, rs []result) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	base := baseline(rs)
	if c.Mode == "throughput" {
		fmt.Fprintln(tw, "transport\tn\tsize\tbatch\tmsgs/s\tMB/s\t× spinwire\tper poll\t")
		for _, r := range rs {
			ratio, perPoll := "-", "-"
			if base != nil && base.MsgsPerSec > 0 {
				ratio = fmt.Sprintf("%.2f", r.MsgsPerSec/base.MsgsPerSec)
			}
			if r.PerDrain > 0 {
				perPoll = fmt.Sprintf("%.1f", r.PerDrain)
			}
			fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%s\t%.0f\t%s\t%s\t\n", r.Transport, r.N, r.Size, r.Batch, rate(r.MsgsPerSec), r.MsgsPerSec*float64(r.Size)/1e6, ratio, perPoll)
		}
		return tw.Flush()
	}
	perSec := "rt/s"
	if c.Mode == "rate" {
		perSec = "replies/s"
	}
	fmt.Fprintf(tw, "transport\tn\tp50\tp90\tp99\tp99.9\tp99.99\tmax\t>10µs\t%s\t× spinwire\tp50 by round\t\n", perSec)
	for _, r := range rs {
		ratio := "-"
		if base != nil && base.P50 > 0 {
			ratio = fmt.Sprintf("%.2f", float64(r.P50)/float64(base.P50))
		}
		var byRound []string
		for _, p := range r.p50s {
			byRound = append(byRound, dur(p))
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%.4f%%\t%s\t%s\t%s\t\n", r.Transport, r.N,
			dur(r.P50), dur(r.P90), dur(r.P99), dur(r.P999), dur(r.P9999), dur(r.Max),
			100*r.Over10us, rate(r.MsgsPerSec), ratio, strings.Join(byRound, " "))
	}
	return tw.Flush()
}
