package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spinwire/spinwire/spin"
)

var errHelp = errors.New("help requested")

// config is everything a run needs; the peer receives it as JSON.
type config struct {
	Transports []string      `json:"transports"`
	Mode       string        `json:"mode"`
	N          int           `json:"n"`
	Rounds     int           `json:"rounds"`
	Warmup     int           `json:"warmup"`
	Size       int           `json:"size"`
	CPUs       [2]int        `json:"cpus"`
	Idle       string        `json:"idle"`
	Agent      string        `json:"agent"`
	Protocol   string        `json:"protocol"`
	Slots      int           `json:"slots"`
	Batch      int           `json:"batch"`
	Timeout    time.Duration `json:"timeout"`
	FloorDir   string        `json:"-"`
	Check      bool          `json:"-"`
	JSON       bool          `json:"-"`
	Quiet      bool          `json:"-"`
	version    bool
	cpusGiven  bool
}

// transportNames lists every transport, in the order `all` runs them.
var transportNames = []string{"spinwire", "raw", "uds"}

var modes = []string{"latency", "throughput"}

const usageText = `pingpong: cross-process round trips and streams, every transport side by side

usage: pingpong [flags]

Each transport runs in interleaved rounds (A B C … A B C …) on the same two
CPUs, so machine drift hits all alike; the table shows percentiles over all
rounds and each transport's p50 as a multiple of spinwire's.

Agent modes (the spinwire transport's spinning threads):
  dedicated    (default) pingpong re-executes itself with
               GODEBUG=asyncpreemptoff=1 and runs with the GC off: no
               preemption signal ever interrupts a spinner. Fastest tails;
               in your own program it needs the same discipline (see
               spin.Dedicated).
  preemptible  a preemption point every 256 iterations: the GC and
               stop-the-world keep working; about every 10 ms of continuous
               spinning the runtime preempts the spinner once (a few µs).

flags:
`

func parseFlags(args []string, stderr io.Writer) (*config, error) {
	c := &config{}
	fs := flag.NewFlagSet("pingpong", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	transports := fs.String("transport", "spinwire,raw,uds", "comma list of transports, or all: "+strings.Join(transportNames, ","))
	fs.StringVar(&c.Mode, "mode", "latency", "latency (closed-loop round trips) or throughput (one-way stream)")
	fs.IntVar(&c.N, "n", 1_000_000, "round trips (latency) or messages (throughput) per transport, over all rounds")
	fs.IntVar(&c.Rounds, "rounds", 3, "interleaved rounds per transport (1…100)")
	fs.IntVar(&c.Warmup, "warmup", 20_000, "discarded round trips before each round")
	fs.IntVar(&c.Size, "size", 64, "message bytes in shared memory or on the wire, 8…65536, the transport's own header included (a 64-byte spinwire InSlot message is 56 bytes of data and the 8-byte sequence, as floor_stream's 64-byte slots); multiples of 8 up to 64 travel in spin.Ring slots, other sizes as spin.Log records")
	cpus := fs.String("cpus", "", "A,B: the CPUs of the two processes (default: affinity.Plan(2))")
	fs.StringVar(&c.Idle, "idle", "spin", "how spinwire waits: spin, backoff or park")
	fs.StringVar(&c.Agent, "agent", "dedicated", "spinwire agent mode: dedicated or preemptible")
	fs.StringVar(&c.Protocol, "protocol", "", "spinwire ring protocol: inslot or cursors (default: spin.DefaultProtocol)")
	fs.IntVar(&c.Slots, "slots", 1024, "slots per ring, a power of two")
	fs.IntVar(&c.Batch, "batch", 1, "throughput mode: messages per publish (1…slots)")
	fs.DurationVar(&c.Timeout, "timeout", 60*time.Second, "give up on a peer that stops answering for this long")
	fs.StringVar(&c.FloorDir, "floor", "", "folder holding floor_pingpong and floor_stream (make floor builds them into build/); they run in the same rounds")
	fs.BoolVar(&c.JSON, "json", false, "print one JSON object per transport instead of the table")
	fs.BoolVar(&c.Check, "check", false, "first print the host's tuning findings for the two CPUs, each with its fix (with -json: one object per finding); -transport none then measures nothing")
	fs.BoolVar(&c.Quiet, "quiet", false, "no notes on stderr")
	fs.BoolVar(&c.version, "version", false, "print the version and exit")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stderr, usageText)
			fs.SetOutput(stderr)
			fs.PrintDefaults()
			return nil, errHelp
		}
		return nil, oneLine(err)
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q (flags only; see -h)", fs.Arg(0))
	}
	if c.version {
		return c, nil
	}
	var err error
	if c.Transports, err = parseTransports(*transports); err != nil {
		return nil, err
	}
	if !slices.Contains(modes, c.Mode) {
		return nil, fmt.Errorf("-mode %q: want one of %s", c.Mode, strings.Join(modes, ", "))
	}
	if c.Rounds < 1 || c.Rounds > 100 {
		return nil, fmt.Errorf("-rounds %d: want 1…100", c.Rounds)
	}
	if c.N < 1000*c.Rounds || c.N > 1_000_000_000 {
		return nil, fmt.Errorf("-n %d: want %d…1000000000 (at least 1000 per round)", c.N, 1000*c.Rounds)
	}
	if c.Warmup < 0 || c.Warmup > 10_000_000 {
		return nil, fmt.Errorf("-warmup %d: want 0…10000000", c.Warmup)
	}
	if c.Size < 8 || c.Size > 65536 {
		return nil, fmt.Errorf("-size %d: want 8…65536 bytes", c.Size)
	}
	if !slices.Contains([]string{"spin", "backoff", "park"}, c.Idle) {
		return nil, fmt.Errorf("-idle %q: want spin, backoff or park", c.Idle)
	}
	if c.Agent != "dedicated" && c.Agent != "preemptible" {
		return nil, fmt.Errorf("-agent %q: want dedicated or preemptible", c.Agent)
	}
	if c.Protocol != "" && c.Protocol != "inslot" && c.Protocol != "cursors" {
		return nil, fmt.Errorf("-protocol %q: want inslot or cursors", c.Protocol)
	}
	if c.Slots < 2 || c.Slots > spin.MaxRingCapacity || c.Slots&(c.Slots-1) != 0 {
		return nil, fmt.Errorf("-slots %d: want a power of two in 2…%d", c.Slots, spin.MaxRingCapacity)
	}
	if c.Batch < 1 || c.Batch > c.Slots {
		return nil, fmt.Errorf("-batch %d: want 1…%d (-slots)", c.Batch, c.Slots)
	}
	if c.Timeout < time.Second {
		return nil, fmt.Errorf("-timeout %v: want at least 1s", c.Timeout)
	}
	if *cpus != "" {
		a, b, ok := strings.Cut(*cpus, ",")
		x, err1 := strconv.Atoi(strings.TrimSpace(a))
		y, err2 := strconv.Atoi(strings.TrimSpace(b))
		if !ok || err1 != nil || err2 != nil || x < 0 || y < 0 {
			return nil, fmt.Errorf("-cpus %q: want two CPU numbers A,B", *cpus)
		}
		c.CPUs, c.cpusGiven = [2]int{x, y}, true
	}
	return c, nil
}

// oneLine shortens the flag package's errors to one line that names the flag.
func oneLine(err error) error {
	s := err.Error()
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return errors.New(s)
}

func parseTransports(s string) ([]string, error) {
	if s == "none" {
		return nil, nil
	}
	if s == "all" {
		return slices.Clone(transportNames), nil
	}
	var out []string
	for _, t := range strings.Split(s, ",") {
		t = strings.TrimSpace(t)
		if !slices.Contains(transportNames, t) {
			return nil, fmt.Errorf("-transport %q: unknown transport %q (have %s, all or none)", s, t, strings.Join(transportNames, ","))
		}
		if !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	return out, nil
}

func version() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(devel)"
}
