package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"path/filepath"
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
	Duration   time.Duration `json:"duration,omitempty"` // instead of N: time per transport over all rounds
	Limit      time.Duration `json:"limit,omitempty"`    // with N: most time per transport over all rounds
	Rounds     int           `json:"rounds"`
	Round      int           `json:"round"`       // the round a peer serves, from 0
	Warmup     int           `json:"warmup"`      // discarded round trips before each round …
	WarmupTime time.Duration `json:"warmup_time"` // … or for this long, whichever ends first (0: no limit)
	Size       int           `json:"size"`
	CPUs       [2]int        `json:"cpus"`
	Idle       string        `json:"idle"` // the -idle list as given (the spinwire variants run)
	Agent      string        `json:"agent"`
	Protocol   string        `json:"protocol"`
	Slots      int           `json:"slots"`
	Batch      int           `json:"batch"`
	Rate       float64       `json:"rate,omitempty"` // rate mode: messages per second
	Conns      int           `json:"conns,omitempty"`
	Pipeline   int           `json:"pipeline,omitempty"`
	Rotate     bool          `json:"rotate,omitempty"` // conns: one call in flight, to each connection in turn
	Active     int           `json:"active,omitempty"` // conns: connections carrying requests (0: all)
	Trials     int           `json:"trials,omitempty"` // restart: server kills
	Procs      int           `json:"procs,omitempty"`  // restart: client processes
	Cleanup    string        `json:"-"`
	Timeout    time.Duration `json:"timeout"`
	FloorDir   string        `json:"-"`
	HgrmDir    string        `json:"-"`
	Plot       string        `json:"-"`
	OutDir     string        `json:"-"`
	Check      bool          `json:"-"`
	JSON       bool          `json:"-"`
	Quiet      bool          `json:"-"`
	version    bool
	cpusGiven  bool
}

// perRound is the message count of round c.Round: -n spread over the
// rounds, the first ones taking the remainder (0 when run by time).
func (c *config) perRound() int {
	n := c.N / c.Rounds
	if c.Round < c.N%c.Rounds {
		n++
	}
	return n
}

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

var modes = []string{"latency", "rate", "throughput", "conns", "restart"}

// Bounds of the numeric flags.
const (
	maxN       = 1_000_000_000
	maxRate    = 100_000_000
	maxConns   = 100_000
	defaultN   = 1_000_000
	defaultWU  = 20_000
	defaultWUT = 100 * time.Millisecond
)

const usageText = `pingpong: cross-process round trips and streams, every transport side by side

usage: pingpong [flags]

pingpong starts a peer process (itself, re-executed), pins the two to two
CPUs (-cpus A,B, default: affinity.Plan(2)) and runs every chosen transport
in interleaved rounds (A B C … A B C …) on those CPUs, so machine drift hits
all alike. Each round starts with a warm-up that is discarded.

Transports (-transport, a comma list, "all" or "none"):
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
to the busy-spinning spinwire.

Modes (-mode):
  latency     closed loop: send, wait for the echo, repeat (the default).
  rate        open loop (-rate R implies it): the parent sends at a fixed
              rate of R messages/s from its pinned thread whatever the
              replies do (several may be in flight), and each latency is
              measured from the message's *intended* send time. A closed
              loop that stalls for 1 ms records one slow sample and simply
              sends nothing meanwhile, although a real client would have
              kept sending and every message in that millisecond would
              have waited: the benchmark coordinates with the stall and
              omits exactly the bad samples ("coordinated omission", Gil
              Tene). Timing from the intended send time, as wrk2 does,
              corrects for it. The sender polls; the peer waits by its
              transport's rule. uds-net has no rate mode (a Go sender would
              either wait on timers of about 1 ms or spin on the CPU its
              netpoller needs).
  throughput  one way, -batch messages per publish; the peer confirms the
              count at the end. Not for raw, eventfd, futex (no messages).
  conns       request/response through link/: one client process (this
              one, on CPU A) drives -conns connections from one pinned
              thread against a server process (cmd/linkecho, found next to
              this binary, else this binary re-executed) with one poller on
              CPU B; -pipeline requests in flight on each connection (1:
              closed loop), or with -rotate one call in flight in all, to
              each connection in turn (the latency of a call with -conns
              attached, without the queueing of -conns calls in flight);
              -active N sends on N of them only, the rest attached and idle.
              Reports requests/s, latency from send to response, and the
              server's memory (VmRSS, RssAnon, RssFile, RssShmem from
              /proc) read at the end of the load, every connection still
              attached, and its VmRSS before the load (an attached
              connection that has carried nothing has no arena pages).
              -duration is the measured time over all rounds (default 6s).
  restart     a server and -conns clients in -procs processes calling
              continuously; -trials times the server is killed (SIGKILL)
              and restarted, then as many random clients are killed and
              restarted. Reports detection (kill → the client's death
              watch), reconnection (new server accepting → a client's first
              reply from it) and the server's reclaim of a dead client's
              slots, and counts every call: lost (no reply, no error),
              duplicated and wrong replies. -cleanup NAME removes what a
              dead server left behind.

Sizes (-size): the bytes a message occupies in shared memory or on the
wire, 8…65536. spinwire carries 8…64-byte multiples of 8 in one ring slot
(under the in-slot protocol the last 8 bytes are the sequence word); any
other size, i.e. everything above one slot, travels as one spin.Log record
(8-byte header + payload, variable length, contiguous in the log; the log
holds at least 8 records of that size). Sockets and pipes write each
message with one write(2) and read until it is complete. raw, eventfd and
futex carry an 8-byte (futex: 4-byte) counter whatever -size says.

Output. The table's columns:
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
Every round records its samples in an HdrHistogram (3 significant
digits, 1 ns … 10 s); a transport's rounds merged: -hgrm writes their
percentile distribution in the .hgrm format HdrHistogram's plotter reads
(values in microseconds), -plot draws the percentile spectrum from it.
The header says which CPUs ran (checked at the start and end of every
round, in both processes), how they relate, the clock, GOMAXPROCS and the
async-preemption state, and warns about anything that makes figures
noisy. -json prints one object per transport instead.

A transport stops short of -n when it reaches -limit (the n column shows
how many it measured, and a warning says so), so a run with slow kernel
transports stays short: on a 2-CPU VM where a wake-up costs ~50 µs,
"-transport all -n 200000" takes about 40 s. No round is timed before its
peer has said it is up and serving.

Agent modes (-agent, the spinning threads of spinwire and the parent):
  dedicated    (default) pingpong re-executes itself with
               GODEBUG=asyncpreemptoff=1 and runs with the GC off: no
               preemption signal ever interrupts a spinner. Fastest tails;
               in your own program it needs the same discipline (see
               agent.Dedicated).
  preemptible  a preemption point every 256 iterations: the GC and
               stop-the-world keep working; about every 10 ms of continuous
               spinning the runtime preempts the spinner once (a few µs).

flags:
`

// usageError is a bad flag value found after parsing (a CPU not allowed,
// a folder that cannot be made): run exits with status 2.
type usageError struct{ error }

func parseFlags(args []string, stderr io.Writer) (*config, error) {
	c := &config{}
	fs := flag.NewFlagSet("pingpong", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	transports := fs.String("transport", "spinwire,raw,uds", "comma list of transports, all, or none: "+strings.Join(transportNames, ","))
	fs.StringVar(&c.Mode, "mode", "latency", "latency (closed loop), rate (open loop, see -rate), throughput (one way) or conns")
	fs.IntVar(&c.N, "n", defaultN, "round trips (latency, rate) or messages (throughput) per transport, over all rounds")
	fs.DurationVar(&c.Duration, "duration", 0, "instead of -n: run each transport for about this long (each round for duration/rounds)")
	fs.DurationVar(&c.Limit, "limit", 5*time.Second, "latency and rate modes with -n: stop a transport after this long over all rounds (each round after limit/rounds), even short of -n; 0: no limit")
	fs.IntVar(&c.Rounds, "rounds", 3, "interleaved rounds per transport (1…100)")
	warmup := fs.String("warmup", "", "discarded before each round: a count of round trips (rate mode: messages) (e.g. 20000) or a duration (e.g. 200ms); default: 20000, at most 100ms")
	fs.IntVar(&c.Size, "size", 64, "message bytes in shared memory or on the wire, 8…65536, the transport's own header included (see Sizes above)")
	cpus := fs.String("cpus", "", "A,B: the CPUs of the two processes (default: affinity.Plan(2))")
	fs.StringVar(&c.Idle, "idle", "", "comma list of spinwire idle strategies to run: spin, backoff, park (default: spin; with -transport all: all three)")
	fs.StringVar(&c.Agent, "agent", "dedicated", "agent mode of the spinning threads: dedicated or preemptible")
	fs.StringVar(&c.Protocol, "protocol", "", "spinwire ring protocol: inslot or cursors (default: spin.DefaultProtocol)")
	fs.IntVar(&c.Slots, "slots", 1024, "slots per ring, a power of two; also the most messages in flight in rate mode")
	fs.IntVar(&c.Batch, "batch", 1, "throughput mode: messages per publish (1…slots)")
	fs.Float64Var(&c.Rate, "rate", 0, "rate mode: messages per second the parent sends, 1…100000000 (implies -mode rate)")
	fs.IntVar(&c.Conns, "conns", 0, "conns and restart modes: connections, 1…100000 (implies -mode conns; restart default 100)")
	fs.IntVar(&c.Pipeline, "pipeline", 0, "conns mode only: requests in flight per connection, 1…1024 (default 1: closed loop)")
	fs.BoolVar(&c.Rotate, "rotate", false, "conns mode only: one call in flight in all, to each connection in turn")
	fs.IntVar(&c.Active, "active", 0, "conns mode only: send on the first N connections only, the others attached and idle (default: all)")
	fs.IntVar(&c.Trials, "trials", 0, "restart mode only: server kills (and as many client kills), 1…1000 (default 20)")
	fs.IntVar(&c.Procs, "procs", 0, "restart mode only: client processes, 1…conns (default min(4, conns))")
	fs.StringVar(&c.Cleanup, "cleanup", "", "remove the socket and lock file a dead link server named NAME left, and exit")
	fs.DurationVar(&c.Timeout, "timeout", 60*time.Second, "give up on a peer that stops answering for this long")
	fs.StringVar(&c.FloorDir, "floor", "", "folder holding floor_pingpong and floor_stream (make floor builds them into build/); they run in the same rounds")
	fs.StringVar(&c.HgrmDir, "hgrm", "", "write each transport's percentile distribution to DIR/<transport>.hgrm (HdrHistogram format, µs)")
	fs.StringVar(&c.Plot, "plot", "", "write the percentile-spectrum chart to FILE.svg or FILE.png")
	fs.StringVar(&c.OutDir, "out", "", "write every artefact into DIR: table.txt, results.json, <transport>.hgrm, latency.svg, latency.png")
	fs.BoolVar(&c.JSON, "json", false, "print one JSON object per transport instead of the table")
	fs.BoolVar(&c.Check, "check", false, "first print the host's tuning findings for the two CPUs, each with its fix (with -json: one object per finding); -transport none then measures nothing")
	fs.BoolVar(&c.Quiet, "quiet", false, "no notes and no progress line on stderr")
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
	if c.version || c.Cleanup != "" {
		return c, nil
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var err error
	if c.Transports, err = parseTransports(*transports, c.Idle); err != nil {
		return nil, err
	}
	if err := c.checkMode(given); err != nil {
		return nil, err
	}
	if c.Rounds < 1 || c.Rounds > 100 {
		return nil, fmt.Errorf("-rounds %d: want 1…100", c.Rounds)
	}
	if given["n"] && given["duration"] {
		return nil, errors.New("-n and -duration: give one of them")
	}
	if c.Duration != 0 {
		if c.Duration < 10*time.Millisecond*time.Duration(c.Rounds) || c.Duration > 24*time.Hour {
			return nil, fmt.Errorf("-duration %v: want %v…24h (at least 10ms per round)", c.Duration, 10*time.Millisecond*time.Duration(c.Rounds))
		}
		if c.Mode == "throughput" {
			return nil, errors.New("-duration: throughput mode needs a message count (give -n)")
		}
		c.N, c.Limit = 0, 0
	} else if c.N < 1000*c.Rounds || c.N > maxN {
		return nil, fmt.Errorf("-n %d: want %d…%d (at least 1000 per round)", c.N, 1000*c.Rounds, maxN)
	}
	if c.Limit < 0 || (c.Limit > 0 && c.Limit < 10*time.Millisecond*time.Duration(c.Rounds)) {
		return nil, fmt.Errorf("-limit %v: want 0 (none) or at least %v (10ms per round)", c.Limit, 10*time.Millisecond*time.Duration(c.Rounds))
	}
	if c.Warmup, c.WarmupTime, err = parseWarmup(*warmup); err != nil {
		return nil, err
	}
	if c.Size < 8 || c.Size > 65536 {
		return nil, fmt.Errorf("-size %d: want 8…65536 bytes", c.Size)
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
	if given["batch"] && c.Mode != "throughput" {
		return nil, fmt.Errorf("-batch %d: only applies to -mode throughput", c.Batch)
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
	if (c.HgrmDir != "" || c.Plot != "") && c.Mode == "throughput" {
		flagName := "-hgrm"
		if c.Plot != "" {
			flagName = "-plot"
		}
		return nil, fmt.Errorf("%s: throughput mode records no latencies (use -mode latency or rate)", flagName)
	}
	if c.Plot != "" {
		if ext := strings.ToLower(filepath.Ext(c.Plot)); ext != ".svg" && ext != ".png" {
			return nil, fmt.Errorf("-plot %q: want a file name ending in .svg or .png", c.Plot)
		}
	}
	return c, nil
}

// checkMode settles -mode against the flags that imply or need a mode:
// -rate, -conns, -pipeline.
func (c *config) checkMode(given map[string]bool) error {
	if !slices.Contains(modes, c.Mode) {
		return fmt.Errorf("-mode %q: want one of %s", c.Mode, strings.Join(modes, ", "))
	}
	if given["rate"] {
		if given["mode"] && c.Mode != "rate" {
			return fmt.Errorf("-rate: only applies to -mode rate (not %s)", c.Mode)
		}
		if math.IsNaN(c.Rate) || c.Rate < 1 || c.Rate > maxRate {
			return fmt.Errorf("-rate %v: want 1…%d messages per second", c.Rate, maxRate)
		}
		c.Mode = "rate"
	} else if c.Mode == "rate" {
		return errors.New("-mode rate: needs -rate R (messages per second)")
	}
	if given["conns"] {
		if given["mode"] && c.Mode != "conns" && c.Mode != "restart" {
			return fmt.Errorf("-conns: only applies to -mode conns or restart (not %s)", c.Mode)
		}
		if c.Conns < 1 || c.Conns > maxConns {
			return fmt.Errorf("-conns %d: want 1…%d", c.Conns, maxConns)
		}
		if c.Mode != "restart" {
			c.Mode = "conns"
		}
	}
	if given["pipeline"] {
		if c.Mode != "conns" {
			return errors.New("-pipeline: only applies to -mode conns (requests in flight per connection)")
		}
		if c.Pipeline < 1 || c.Pipeline > 1024 {
			return fmt.Errorf("-pipeline %d: want 1…1024", c.Pipeline)
		}
		if c.Rotate {
			return errors.New("-pipeline and -rotate: -rotate keeps one call in flight in all")
		}
	}
	if c.Rotate && c.Mode != "conns" {
		return errors.New("-rotate: only applies to -mode conns")
	}
	if given["active"] && (c.Mode != "conns" || c.Active < 1 || c.Active > c.Conns) {
		return fmt.Errorf("-active %d: only applies to -mode conns, 1…%d (-conns)", c.Active, c.Conns)
	}
	if given["trials"] || given["procs"] {
		if c.Mode != "restart" {
			return errors.New("-trials, -procs: only apply to -mode restart")
		}
	}
	switch c.Mode {
	case "conns":
		if c.Conns == 0 {
			return errors.New("-mode conns: needs -conns N")
		}
		c.Pipeline = max(c.Pipeline, 1)
	case "restart":
		if c.Conns == 0 {
			c.Conns = 100
		}
		if c.Trials == 0 {
			c.Trials = 20
		}
		if c.Procs == 0 {
			c.Procs = min(4, c.Conns)
		}
		if c.Trials < 1 || c.Trials > 1000 {
			return fmt.Errorf("-trials %d: want 1…1000", c.Trials)
		}
		if c.Procs < 1 || c.Procs > c.Conns {
			return fmt.Errorf("-procs %d: want 1…%d (-conns)", c.Procs, c.Conns)
		}
	}
	return nil
}

// parseWarmup reads -warmup: "" (the default: 20000 round trips, at most
// 100 ms), a count, or a duration.
func parseWarmup(s string) (int, time.Duration, error) {
	if s == "" {
		return defaultWU, defaultWUT, nil
	}
	if n, err := strconv.Atoi(s); err == nil {
		if n < 0 || n > 10_000_000 {
			return 0, 0, fmt.Errorf("-warmup %d: want 0…10000000 round trips, or a duration", n)
		}
		return n, 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 || d > time.Minute {
		return 0, 0, fmt.Errorf("-warmup %q: want a count (0…10000000) or a duration (0…1m)", s)
	}
	if d == 0 {
		return 0, 0, nil
	}
	return 10_000_000, d, nil
}

// oneLine shortens the flag package's errors to one line that names the flag.
func oneLine(err error) error {
	s := err.Error()
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return errors.New(s)
}

// parseTransports reads -transport and applies -idle: "all" is every
// transport; in a list, "spinwire" stands for the -idle variants. With
// -idle given, "all" runs only the variants it names.
func parseTransports(s, idle string) ([]string, error) {
	var idles []string
	if idle != "" {
		for _, v := range strings.Split(idle, ",") {
			v = strings.TrimSpace(v)
			if !slices.Contains(idleNames, v) {
				return nil, fmt.Errorf("-idle %q: unknown strategy %q (want a list of spin, backoff, park)", idle, v)
			}
			if !slices.Contains(idles, v) {
				idles = append(idles, v)
			}
		}
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
	for _, t := range strings.Split(s, ",") {
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

func version() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(devel)"
}
