package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/spinwire/spinwire/affinity"
	"github.com/spinwire/spinwire/asm"
	"github.com/spinwire/spinwire/tuning"
)

// sample is one round of one transport.
type sample struct {
	hist     *hdrhistogram.Histogram // latency (rate: from the intended send) of each measured message, ns; nil in throughput mode
	elapsed  uint64                  // ticks for the measured part of the round
	n        int                     // messages measured
	short    bool                    // stopped before -n by -limit
	sendSpan uint64                  // rate mode: ticks from the first measured send to the last
	cpus     [4]int                  // CPU of the parent at start and end, of the peer at start and end; -1 unknown
	floor    *result                 // a floor program's own report, when the round ran one
	drains   uint64                  // throughput: the peer's polls that took something; 0 unknown
}

// roundState is what the measuring loop shares with the progress line and
// the watchdog: beat moves while round trips complete (warm-up included),
// done counts measured ones.
type roundState struct {
	beat atomic.Uint64
	done atomic.Int64
}

// plan is the shape of a run, for the loop and the progress line.
type plan struct {
	names  []string
	perN   int           // messages per round, about (0: by time)
	budget time.Duration // per round: the -duration share, or the -limit share
}

func newPlan(c *config) plan {
	p := plan{names: slices.Clone(c.Transports)}
	if floorProgram(c) != "" {
		p.names = append(p.names, "floor-c")
	}
	if c.Duration > 0 {
		p.budget = c.Duration / time.Duration(c.Rounds)
	} else {
		p.perN = c.N / c.Rounds
		p.budget = c.Limit / time.Duration(c.Rounds)
	}
	return p
}

// measure runs every transport in interleaved rounds and reports.
func measure(c *config, stdout, stderr io.Writer) error {
	setupRuntime(c)
	notes := notesTo(c, stderr)
	// The flags' own errors first: they do not depend on the host.
	if len(c.Transports) == 0 {
		return usageError{errors.New("-transport none measures nothing (pingpong -check prints the host's findings)")}
	}
	if err := prepareOutputs(c); err != nil {
		return usageError{err}
	}
	host, err := prepareHost(c, notes)
	if err != nil {
		return err
	}
	if c.JSON {
		for _, w := range host.warnings {
			fmt.Fprintln(notes, "warning:", w)
		}
	}
	asm.TicksPerSecond() // calibrate before anything is timed

	intr := catchInterrupts()
	defer intr.stop()
	pl := newPlan(c)
	r := &runner{c: c, pl: pl, notes: notes, intr: intr, prog: newProgress(stderr, !c.Quiet && isTerminal(stderr), pl, c.Rounds),
		rounds: map[string][]sample{}, hists: map[string]*hdrhistogram.Histogram{}, skipped: map[string]bool{}}
	defer r.prog.finish()
	start := time.Now()
	if err := r.run(); err != nil {
		return err
	}
	r.prog.finish()
	run := runInfo{c: c, topo: host.topo, machine: host.machine, warnings: host.warnings, took: time.Since(start)}
	return writeOutputs(c, run, r.results(), r.hists, stdout, notes)
}

// notesTo is where notes and warnings go: stderr, or nowhere with -quiet.
func notesTo(c *config, stderr io.Writer) io.Writer {
	if c.Quiet {
		return io.Discard
	}
	return stderr
}

// host is what the run's header reports about the host: its topology, the
// machine in words, and the host-wide reasons to doubt the figures.
type host struct {
	topo     *affinity.Topo
	machine  []string
	warnings []string
}

// prepareHost reads the topology and describes the machine, checks
// -floor, settles the CPUs (-cpus, else affinity.Plan(2)) and checks that
// this process may use them, and gathers the host warnings.
func prepareHost(c *config, notes io.Writer) (host, error) {
	topo, err := affinity.Topology()
	if err != nil {
		return host{}, fmt.Errorf("topology: %w", err)
	}
	allowed, err := affinity.Allowed()
	if err != nil {
		return host{}, err
	}
	if c.FloorDir != "" && c.Mode == "rate" {
		fmt.Fprintln(notes, "note: the C floor programs have no rate mode; -floor ignored")
	} else if c.FloorDir != "" && floorProgram(c) == "" {
		return host{}, usageError{fmt.Errorf("-floor %s: no %s there (make floor builds it into build/)", c.FloorDir, floorName(c))}
	}
	warnings, err := chooseCPUs(c, allowed)
	if err != nil {
		return host{}, err
	}
	return host{topo, hostLines(tuning.HostCPU(), topo), append(warnings, hostWarnings(c, topo, allowed)...)}, nil
}

// chooseCPUs settles c.CPUs: -cpus as given, else affinity.Plan(2), whose
// warnings it returns; both must be in allowed.
func chooseCPUs(c *config, allowed affinity.CPUSet) ([]string, error) {
	var warnings []string
	if !c.cpusGiven {
		pl, err := affinity.Plan(2)
		if err != nil {
			return nil, usageError{fmt.Errorf("choosing CPUs: %w (give -cpus A,B)", err)}
		}
		c.CPUs = [2]int{pl.CPUs[0], pl.CPUs[1]}
		warnings = pl.Warnings
	}
	for _, cpu := range c.CPUs {
		if !allowed.Contains(cpu) {
			return nil, usageError{fmt.Errorf("-cpus %d,%d: CPU %d is not in this process's allowed set %s", c.CPUs[0], c.CPUs[1], cpu, allowed)}
		}
	}
	return warnings, nil
}

// interrupts kills the running peer on Ctrl-C or SIGTERM; the measuring
// loop notices the dead peer, and the runner stops.
type interrupts struct {
	current atomic.Pointer[exec.Cmd] // the peer of the round running
	hit     atomic.Bool
	sigc    chan os.Signal
}

func catchInterrupts() *interrupts {
	i := &interrupts{sigc: make(chan os.Signal, 1)}
	signal.Notify(i.sigc, os.Interrupt, syscall.SIGTERM)
	go func() {
		for range i.sigc {
			i.hit.Store(true)
			if p := i.current.Load(); p != nil && p.Process != nil {
				p.Process.Kill()
			}
		}
	}()
	return i
}

func (i *interrupts) stop() { signal.Stop(i.sigc) }

var errInterrupted = errors.New("interrupted")

// runner runs the rounds: every transport of the plan once per round, in
// order, so that drift hits all alike.
type runner struct {
	c     *config
	pl    plan
	notes io.Writer
	intr  *interrupts
	prog  *progress

	rounds  map[string][]sample
	hists   map[string]*hdrhistogram.Histogram // every round's latencies, merged
	skipped map[string]bool                    // transports without the run's mode
}

func (r *runner) run() error {
	for round := range r.c.Rounds {
		for i, name := range r.pl.names {
			if err := r.one(round, i, name); err != nil {
				return err
			}
		}
	}
	return nil
}

// one runs round `round` of transport name (the plan's i-th) and keeps
// its sample. A transport without the run's mode is noted and skipped
// from then on.
func (r *runner) one(round, i int, name string) error {
	if r.intr.hit.Load() {
		return errInterrupted
	}
	if r.skipped[name] {
		return nil
	}
	st := r.prog.begin(round, i, name)
	rc := *r.c
	rc.Round = round
	s, err := runRound(name, &rc, r.pl, st, &r.intr.current)
	var ns errNotSupported
	switch {
	case errors.As(err, &ns):
		r.prog.clear()
		fmt.Fprintln(r.notes, "note:", err)
		r.skipped[name] = true
		return nil
	case err != nil && r.intr.hit.Load():
		return errInterrupted
	case err != nil:
		return fmt.Errorf("%s, round %d: %w", name, round+1, err)
	}
	r.rounds[name] = append(r.rounds[name], s)
	if s.hist != nil {
		h := r.hists[name]
		if h == nil {
			h = newHistogram()
			r.hists[name] = h
		}
		h.Merge(s.hist)
	}
	return nil
}

// results summarises each transport that ran, in the plan's order.
func (r *runner) results() []result {
	var out []result
	for _, name := range r.pl.names {
		if len(r.rounds[name]) > 0 {
			out = append(out, summarise(name, r.c, r.rounds[name]))
		}
	}
	return out
}
