package main

import (
	"errors"
	"flag"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spinwire/spinwire/asm"
	"github.com/spinwire/spinwire/spin"
)

// transportNames lists every transport, in the order `all` runs them. The
// three spinwire names are one transport with three idle strategies.
var transportNames = []string{
	"spinwire", "spinwire-backoff", "spinwire-park",
	"raw", "uds", "uds-net", "pipe", "eventfd", "futex", "tcp",
}

// idleNames are the -idle strategies, and spinwireName the transport name
// each one runs under.
var idleNames = []string{"spin", "backoff", "park"}

func spinwireName(idle string) string {
	if idle == "spin" {
		return "spinwire"
	}
	return "spinwire-" + idle
}

// Bounds and defaults of the numeric flags.
const (
	maxN       = 1_000_000_000
	maxRate    = 100_000_000
	defaultN   = 1_000_000
	defaultWU  = 20_000
	defaultWUT = 100 * time.Millisecond
)

// transportFlags are the flags of the modes that run transports side by
// side (latency, rate, throughput): which transports, how many messages of
// what size, and the artefacts.
type transportFlags struct {
	transports, warmup string
}

func (f *transportFlags) define(fs *flag.FlagSet, c *config) {
	fs.StringVar(&f.transports, "transport", "spinwire,raw,uds", "comma list, all or none")
	fs.StringVar(&c.Idle, "idle", "", "spinwire variants to run: spin, backoff, park (default: spin; all: all three)")
	fs.IntVar(&c.N, "n", defaultN, "messages per transport, over all rounds")
	fs.DurationVar(&c.Limit, "limit", 5*time.Second, "with -n: stop a transport after this long, short of -n (0: no limit)")
	fs.StringVar(&f.warmup, "warmup", "", "discarded before each round: a count or a duration (default: 20000, at most 100ms)")
	fs.IntVar(&c.Size, "size", 64, "message bytes, 8…65536")
	fs.StringVar(&c.Protocol, "protocol", "", "spinwire: inslot or cursors (a spin.Ring), log (a spin.Log), or records (a spin.Log written and read as spin.Records, -mode throughput -size 64) (default: a Ring with spin.DefaultProtocol up to 64 bytes, a Log above)")
	fs.IntVar(&c.Slots, "slots", 1024, "slots per ring, a power of two, the C floor's rings too (rate mode: the most in flight)")
	fs.BoolVar(&c.Demote, "demote", false, "round trips: spinwire's Ring producers (spin.Ring.SetDemote) and the C floor move each slot they publish to the shared cache (CLDEMOTE)")
	fs.StringVar(&c.HgrmDir, "hgrm", "", "write each transport's latency distribution to dir/<transport>.hgrm")
	fs.StringVar(&c.Plot, "plot", "", "draw the percentile spectrum into file (.svg or .png)")
	fs.StringVar(&c.OutDir, "out", "", "write the table, JSON, .hgrm files and charts into dir")
}

func (f *transportFlags) check(c *config, given map[string]bool) error {
	var err error
	if c.Transports, err = parseTransports(f.transports, c.Idle); err != nil {
		return err
	}
	if err := c.checkCount(given); err != nil {
		return err
	}
	if c.Warmup, c.WarmupTime, err = parseWarmup(f.warmup); err != nil {
		return err
	}
	if c.Size < 8 || c.Size > 65536 {
		return fmt.Errorf("-size %d: want 8…65536 bytes", c.Size)
	}
	if c.Protocol != "" && c.Protocol != "inslot" && c.Protocol != "cursors" && c.Protocol != "log" && c.Protocol != "records" {
		return fmt.Errorf("-protocol %q: want inslot, cursors, log or records", c.Protocol)
	}
	if c.Protocol == "records" && (c.Mode != "throughput" || c.Size != 64) {
		return fmt.Errorf("-protocol records: a stream (-mode throughput) of 64-byte records")
	}
	if (c.Protocol == "inslot" || c.Protocol == "cursors") && !ringSize(c) {
		return fmt.Errorf("-protocol %s -size %d: a Ring carries multiples of 8 up to 64 bytes and powers of two up to 4096 (use -protocol log)", c.Protocol, c.Size)
	}
	if c.Slots < 2 || c.Slots > spin.MaxRingCapacity || c.Slots&(c.Slots-1) != 0 {
		return fmt.Errorf("-slots %d: want a power of two in 2…%d", c.Slots, spin.MaxRingCapacity)
	}
	switch {
	case !c.Demote:
	case c.Mode != "latency" && c.Mode != "rate":
		return fmt.Errorf("-demote is for round trips (-mode latency or rate): a stream's producer loses most of its rate to it")
	case !ringSize(c):
		return fmt.Errorf("-demote -size %d: only a spin.Ring demotes, and this size travels in a spin.Log", c.Size)
	case !asm.HasDemote():
		return fmt.Errorf("-demote: this CPU has no CLDEMOTE (asm.HasDemote), so neither side would demote anything")
	}
	return c.checkArtefacts()
}

// checkCount settles how long each transport runs: -n messages (cut at
// -limit) or -duration.
func (c *config) checkCount(given map[string]bool) error {
	if given["n"] && given["duration"] {
		return errors.New("-n and -duration: give one of them")
	}
	if c.Duration != 0 {
		if c.Mode == "throughput" {
			return errors.New("-duration: throughput mode needs a message count (give -n)")
		}
		c.N, c.Limit = 0, 0
		return nil
	}
	if c.N < 1000*c.Rounds || c.N > maxN {
		return fmt.Errorf("-n %d: want %d…%d (at least 1000 per round)", c.N, 1000*c.Rounds, maxN)
	}
	if least := 10 * time.Millisecond * time.Duration(c.Rounds); c.Limit < 0 || (c.Limit > 0 && c.Limit < least) {
		return fmt.Errorf("-limit %v: want 0 (none) or at least %v (10ms per round)", c.Limit, least)
	}
	return nil
}

// checkArtefacts checks -hgrm and -plot: throughput mode records no
// latencies, and a chart is an .svg or a .png.
func (c *config) checkArtefacts() error {
	if (c.HgrmDir != "" || c.Plot != "") && c.Mode == "throughput" {
		flagName := "-hgrm"
		if c.Plot != "" {
			flagName = "-plot"
		}
		return fmt.Errorf("%s: throughput mode records no latencies (use -mode latency or rate)", flagName)
	}
	if c.Plot != "" {
		if ext := strings.ToLower(filepath.Ext(c.Plot)); ext != ".svg" && ext != ".png" {
			return fmt.Errorf("-plot %q: want a file name ending in .svg or .png", c.Plot)
		}
	}
	return nil
}

// rateFlags are rate mode's: the rate, which -mode rate needs and which
// implies rate mode when no -mode is given.
type rateFlags struct{}

func (rateFlags) define(fs *flag.FlagSet, c *config) {
	fs.Float64Var(&c.Rate, "rate", 0, "messages per second the parent sends, 1…100000000 (implies -mode rate)")
}

func (rateFlags) check(c *config, given map[string]bool) error {
	if !given["rate"] {
		return errors.New("-mode rate: needs -rate R (messages per second)")
	}
	if math.IsNaN(c.Rate) || c.Rate < 1 || c.Rate > maxRate {
		return fmt.Errorf("-rate %v: want 1…%d messages per second", c.Rate, maxRate)
	}
	return nil
}

// throughputFlags are throughput mode's: the batch.
type throughputFlags struct{}

func (throughputFlags) define(fs *flag.FlagSet, c *config) {
	fs.IntVar(&c.Batch, "batch", 1, "messages per publish, 1…-slots")
}

func (throughputFlags) check(c *config, _ map[string]bool) error {
	if c.Batch < 1 || c.Batch > c.Slots {
		return fmt.Errorf("-batch %d: want 1…%d (-slots)", c.Batch, c.Slots)
	}
	return nil
}

// parseTransports reads -transport and applies -idle: "all" is every
// transport; in a list, "spinwire" stands for the -idle variants. With
// -idle given, "all" runs only the variants it names.
func parseTransports(s, idle string) ([]string, error) {
	idles, err := parseIdle(idle)
	if err != nil {
		return nil, err
	}
	if s == "none" {
		return nil, nil
	}
	var out []string
	add := func(t string) {
		if !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	if s == "all" {
		for _, t := range transportNames {
			if idles != nil && strings.HasPrefix(t, "spinwire") {
				continue
			}
			if idles != nil && t == "raw" {
				for _, v := range idles {
					add(spinwireName(v))
				}
			}
			add(t)
		}
		return out, nil
	}
	for t := range strings.SplitSeq(s, ",") {
		t = strings.TrimSpace(t)
		switch {
		case t == "spinwire" && idles != nil:
			for _, v := range idles {
				add(spinwireName(v))
			}
		case slices.Contains(transportNames, t):
			add(t)
		default:
			return nil, fmt.Errorf("-transport %q: unknown transport %q (have %s, all or none)", s, t, strings.Join(transportNames, ","))
		}
	}
	return out, nil
}

// parseIdle reads -idle: nil, or the strategies named, each once.
func parseIdle(idle string) ([]string, error) {
	if idle == "" {
		return nil, nil
	}
	var idles []string
	for v := range strings.SplitSeq(idle, ",") {
		v = strings.TrimSpace(v)
		if !slices.Contains(idleNames, v) {
			return nil, fmt.Errorf("-idle %q: unknown strategy %q (want a list of spin, backoff, park)", idle, v)
		}
		if !slices.Contains(idles, v) {
			idles = append(idles, v)
		}
	}
	return idles, nil
}

// The transport modes' help texts.
const (
	latencyText = `latency: closed loop — send a message, wait for its echo, repeat — over
every transport chosen, in interleaved rounds on the same two CPUs (the
default mode). The table gives each transport's round-trip percentiles,
round trips per second, and its p50 as a multiple of spinwire's.`

	rateText = `rate: open loop (-rate R implies it). The parent sends at a fixed rate of
R messages/s from its pinned thread whatever the replies do (several may be
in flight), and each latency is measured from the message's *intended* send
time. A closed loop that stalls for 1 ms records one slow sample and simply
sends nothing meanwhile, although a real client would have kept sending and
every message in that millisecond would have waited: the benchmark
coordinates with the stall and omits exactly the bad samples
("coordinated omission", Gil Tene). Timing from the intended send time, as
wrk2 does, corrects for it. The sender polls; the peer waits by its
transport's rule. uds-net has no rate mode (a Go sender would either wait
on timers of about 1 ms or spin on the CPU its netpoller needs).`

	throughputText = `throughput: one way, -batch messages per publish; the peer confirms the
count at the end. Not for raw, eventfd, futex (no messages). The table gives
messages per second, each as a multiple of spinwire's, and "per poll": the
messages the consumer took per poll that found any (spinwire and the floor;
JSON per_drain). At -batch 1 a consumer that keeps up takes about one per
poll and the rate is that of a cache-line hand-off per message; one that
fell behind takes many and runs at nearly the batched rate, so the rate
there depends on which of the two a run landed in.`

	transportsText = `Transports (-transport, a comma list, "all" or "none"):
  spinwire          two spin.Rings (or spin.Logs, see -size) in one memfd;
                    both sides busy-spin (idle strategy spin)
  spinwire-backoff  the same, waiting with spin.Backoff (spin, yield, park)
  spinwire-park     the same, waiting with spin.Park (futex sleep at once)
  raw               two atomic words 128 bytes apart: the least Go can do
  uds               Unix stream socketpair, raw read(2)/write(2)
  uds-net           Unix socket through Go's net package (goroutines and the
                    netpoller, as most Go services do it); each process is
                    confined to its CPU rather than a pinned thread
  pipe              two pipes, raw read(2)/write(2)
  eventfd           two eventfds (a counter: no payload)
  futex             two 32-bit words in shared memory, FUTEX_WAIT/FUTEX_WAKE
  tcp               loopback TCP, TCP_NODELAY, raw read(2)/write(2)
-idle spin,backoff,park picks the spinwire variants instead of naming them
(default: spin; with -transport all, all three). "× spinwire" always refers
to the busy-spinning spinwire.`

	sizesText = `Sizes (-size): the bytes a message occupies in shared memory or on the
wire, 8…65536. spinwire carries 8…64-byte multiples of 8, and powers of
two up to 4096, in one ring slot (under the in-slot protocol the last 8
bytes are the sequence word); any other size, and any with -protocol log,
travels as one spin.Log record (8-byte header + payload, variable length,
contiguous in the log; the log holds at least 8 records of that size). Sockets and pipes write each
message with one write(2) and read until it is complete. raw, eventfd and
futex carry an 8-byte (futex: 4-byte) counter whatever -size says.`

	outputText = `Output. The table's columns:
  n             round trips (rate: replies) measured, warm-up excluded
  p50 … p99.99  percentiles of the round-trip time (rate: time from the
                intended send to the reply). Each is the median over the
                rounds of that round's percentile.
  max           the largest sample of any round
  >10µs         share of all samples above 10 µs
  rt/s          round trips (msgs/s: messages, rate: replies) per second,
                median over rounds
  × spinwire    this row's p50 (throughput: msgs/s) divided by the busy-spin
                spinwire's ("-" when spinwire did not run)
  p50 by round  each round's p50, in order, to show the spread
Every round records its samples in an HdrHistogram (3 significant digits,
1 ns … 10 s); -hgrm writes a transport's rounds, merged, as the percentile
distribution HdrHistogram's plotter reads (.hgrm, values in microseconds),
-plot draws the percentile spectrum from it. The header says which CPUs ran
(checked at the start and end of every round, in both processes), how they
relate, the clock, GOMAXPROCS and the async-preemption state, and warns
about anything that makes figures noisy. -json prints one object per
transport instead.

A transport stops short of -n when it reaches -limit (the n column shows
how many it measured, and a warning says so), so a run with slow kernel
transports stays short. No round is timed before its peer has said it is
up and serving.`
)
