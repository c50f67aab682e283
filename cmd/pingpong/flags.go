package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"time"
)

// errHelp is parseFlags' answer to -h and -help-all: the help is printed,
// and the command exits with status 0.
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
	Demote     bool          `json:"demote,omitempty"` // spinwire's Ring producers and the floor demote each slot they publish
	Batch      int           `json:"batch"`
	Rate       float64       `json:"rate,omitempty"` // rate mode: messages per second
	Conns      int           `json:"conns,omitempty"`
	Pipeline   int           `json:"pipeline,omitempty"`
	Rotate     bool          `json:"rotate,omitempty"` // conns: one call in flight, to each connection in turn
	Defer      bool          `json:"defer,omitempty"`  // conns: the server defers every call, a replier goroutine answers
	Push       bool          `json:"push,omitempty"`   // conns: every connection takes pushes, one per request
	Active     int           `json:"active,omitempty"` // conns: connections carrying requests (0: all)
	Trials     int           `json:"trials,omitempty"` // restart: server kills
	Procs      int           `json:"procs,omitempty"`  // conns, restart: client processes; fanout: subscriber processes
	Subs       int           `json:"subs,omitempty"`   // fanout: subscriptions
	Policy     string        `json:"policy,omitempty"` // fanout: lossy or reliable
	Msgs       int           `json:"msgs,omitempty"`   // fanout: messages of the stream phase
	Paced      int           `json:"paced,omitempty"`  // fanout: messages of the latency phase
	Passes     int           `json:"-"`                // streams: passes over every row
	Sizes      []int         `json:"-"`                // streams: message sizes
	Count      int           `json:"-"`                // streams: messages per row and pass (0: by size)
	Cleanup    string        `json:"-"`
	Timeout    time.Duration `json:"timeout"`
	FloorDir   string        `json:"-"`
	HgrmDir    string        `json:"-"`
	Plot       string        `json:"-"`
	OutDir     string        `json:"-"`
	Check      bool          `json:"-"`
	JSON       bool          `json:"-"`
	Quiet      bool          `json:"-"`
	Stat       bool          `json:"-"` // publish the rings for spinstat (statreg.go)
	version    bool
	helpAll    bool
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

// A flagGroup is the flags of one or more modes (or of every mode): it
// defines them, and once the command line is parsed it checks them and
// fills in what they imply. check runs only when the run's mode is one of
// the group's; given names the flags on the command line.
type flagGroup interface {
	define(fs *flag.FlagSet, c *config)
	check(c *config, given map[string]bool) error
}

// group is a flagGroup with the modes it serves (nil: every mode), its
// title in the help, and its flags' names (filled in by parseFlags).
type group struct {
	title string
	modes []string
	flags flagGroup
	names []string
}

func (g *group) serves(mode string) bool { return g.modes == nil || slices.Contains(g.modes, mode) }

// groups are the flag groups in the order the help shows them and
// parseFlags checks them (the throughput group's check reads -slots, the
// conns group's -conns).
func groups() []*group {
	return []*group{
		{title: "every mode", flags: &runFlags{}},
		{title: "latency, rate and throughput", modes: transportModes, flags: &transportFlags{}},
		{title: "rate mode", modes: []string{"rate"}, flags: &rateFlags{}},
		{title: "throughput mode", modes: []string{"throughput"}, flags: &throughputFlags{}},
		{title: "conns and restart", modes: []string{"conns", "restart"}, flags: &connCountFlags{}},
		{title: "conns, restart and fanout", modes: []string{"conns", "restart", "fanout"}, flags: &procsFlags{}},
		{title: "conns mode", modes: []string{"conns"}, flags: &connsFlags{}},
		{title: "restart mode", modes: []string{"restart"}, flags: &restartFlags{}},
		{title: "fanout mode", modes: []string{"fanout"}, flags: &fanoutFlags{}},
		{title: "streams mode", modes: []string{"streams"}, flags: &streamsFlags{}},
	}
}

// usageError is a bad flag value found after parsing (a CPU not allowed,
// a folder that cannot be made): run exits with status 2.
type usageError struct{ error }

// parseFlags reads the command line. On -h it prints the help of the mode
// given before it (or the short help), on -help-all every flag, to
// stdout, and returns errHelp.
func parseFlags(args []string, stdout io.Writer) (*config, error) {
	c := &config{}
	fs := flag.NewFlagSet("pingpong", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	gs := defineGroups(fs, c)
	err := fs.Parse(args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		return nil, writeHelp(stdout, fs, gs, helpMode(args, c.Mode))
	case err != nil:
		return nil, oneLine(err)
	case c.helpAll:
		return nil, writeHelpAll(stdout, fs, gs)
	case fs.NArg() > 0:
		return nil, fmt.Errorf("unexpected argument %q (flags only; see -h)", fs.Arg(0))
	case c.version || c.Cleanup != "":
		return c, nil
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	if err := settleMode(c, given); err != nil {
		return nil, err
	}
	owner := map[string]*group{}
	for _, g := range gs {
		for _, name := range g.names {
			owner[name] = g
		}
	}
	for _, name := range slices.Sorted(maps.Keys(given)) {
		if g := owner[name]; !g.serves(c.Mode) {
			return nil, fmt.Errorf("-%s: applies to -mode %s only, not %s", name, strings.Join(g.modes, " or "), c.Mode)
		}
	}
	for _, g := range gs {
		if g.serves(c.Mode) {
			if err := g.flags.check(c, given); err != nil {
				return nil, err
			}
		}
	}
	return c, nil
}

// defineGroups defines every group's flags on fs and records which flags
// each group owns.
func defineGroups(fs *flag.FlagSet, c *config) []*group {
	gs := groups()
	seen := map[string]bool{}
	for _, g := range gs {
		g.flags.define(fs, c)
		fs.VisitAll(func(f *flag.Flag) {
			if !seen[f.Name] {
				seen[f.Name] = true
				g.names = append(g.names, f.Name)
			}
		})
	}
	return gs
}

// modes are the values of -mode, in the order the help lists them.
var modes = []string{"latency", "rate", "throughput", "conns", "restart", "fanout", "streams"}

// transportModes are the modes that run the transports side by side.
var transportModes = []string{"latency", "rate", "throughput"}

// settleMode checks -mode, and applies the flags that imply a mode when
// none is given: -rate (rate), -conns (conns).
func settleMode(c *config, given map[string]bool) error {
	if !slices.Contains(modes, c.Mode) {
		return fmt.Errorf("-mode %q: want one of %s", c.Mode, strings.Join(modes, ", "))
	}
	switch {
	case given["mode"]:
	case given["rate"]:
		c.Mode = "rate"
	case given["conns"]:
		c.Mode = "conns"
	}
	return nil
}

// oneLine shortens the flag package's errors to one line that names the flag.
func oneLine(err error) error {
	s := err.Error()
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return errors.New(s)
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

func version() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(devel)"
}
