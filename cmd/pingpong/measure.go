package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/spinwire/spinwire/affinity"
	"github.com/spinwire/spinwire/agent"
	"github.com/spinwire/spinwire/asm"
	"github.com/spinwire/spinwire/spin"
	"github.com/spinwire/spinwire/tuning"
)

// allowReexec is false in unit tests, which must not replace the test binary.
var allowReexec = true

// maybeReexec re-executes pingpong with GODEBUG=asyncpreemptoff=1 when the
// dedicated agent mode needs it and the process did not start with it: the
// runtime reads that setting only at start-up.
func maybeReexec(c *config) (bool, error) {
	if !allowReexec || c.Agent != "dedicated" || agent.AsyncPreemptOff() {
		return false, nil
	}
	self, err := os.Executable()
	if err != nil {
		return true, err
	}
	env := os.Environ()
	godebug := "asyncpreemptoff=1"
	for i, kv := range env {
		if v, ok := strings.CutPrefix(kv, "GODEBUG="); ok {
			env = slices.Delete(env, i, i+1)
			if v != "" {
				godebug = v + "," + godebug
			}
			break
		}
	}
	env = append(env, "GODEBUG="+godebug)
	return true, syscall.Exec(self, append([]string{os.Args[0]}, os.Args[1:]...), env)
}

// setMaxProcs sets GOMAXPROCS explicitly: the run's two spinners, plus two
// Ps for the runtime's own work (GO-RUNTIME.md). Each process spins on one
// of them; the rule is kept per host so tuning.Check agrees.
func setMaxProcs() { runtime.GOMAXPROCS(max(runtime.NumCPU(), 2+2)) }

// sample is one round of one transport.
type sample struct {
	ticks    []uint64 // latency (rate: from the intended send) per message, in ticks
	elapsed  uint64   // ticks for the measured part of the round
	n        int      // messages measured
	short    bool     // stopped before -n: by -limit, or at maxSamples
	sendSpan uint64   // rate mode: ticks from the first measured send to the last
	cpus     [4]int   // CPU of the parent at start and end, of the peer at start and end; -1 unknown
	floor    *result  // a floor program's own report, when the round ran one
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
	notes := stderr
	if c.Quiet {
		notes = io.Discard
	}
	topo, err := affinity.Topology()
	if err != nil {
		return fmt.Errorf("topology: %w", err)
	}
	allowed, err := affinity.Allowed()
	if err != nil {
		return err
	}
	var warnings []string
	if !c.cpusGiven {
		pl, err := affinity.Plan(2)
		if err != nil {
			return usageError{fmt.Errorf("choosing CPUs: %w (give -cpus A,B)", err)}
		}
		c.CPUs = [2]int{pl.CPUs[0], pl.CPUs[1]}
		warnings = append(warnings, pl.Warnings...)
	}
	for _, cpu := range c.CPUs {
		if !allowed.Contains(cpu) {
			return usageError{fmt.Errorf("-cpus %d,%d: CPU %d is not in this process's allowed set %s", c.CPUs[0], c.CPUs[1], cpu, allowed)}
		}
	}
	if c.FloorDir != "" && c.Mode == "rate" {
		fmt.Fprintln(notes, "note: the C floor programs have no rate mode; -floor ignored")
	} else if c.FloorDir != "" && floorProgram(c) == "" {
		return usageError{fmt.Errorf("-floor %s: no %s there (make floor builds it into build/)", c.FloorDir, floorName(c))}
	}
	warnings = append(warnings, hostWarnings(c, topo, allowed)...)
	if c.Check {
		findings := tuning.Check(tuning.Options{SpinnerCPUs: c.CPUs[:]})
		write := tuning.WriteTable
		if c.JSON {
			write = tuning.WriteJSON
		}
		if err := write(stdout, findings); err != nil {
			return err
		}
		if len(c.Transports) == 0 {
			return nil
		}
		if !c.JSON {
			fmt.Fprintln(stdout)
		}
	}
	if len(c.Transports) == 0 {
		return usageError{errors.New("-transport none measures nothing; add -check to see the host's findings")}
	}
	if err := prepareOutputs(c); err != nil {
		return usageError{err}
	}
	if c.JSON {
		for _, w := range warnings {
			fmt.Fprintln(notes, "warning:", w)
		}
	}
	asm.TicksPerSecond() // calibrate before anything is timed

	// Kill the peer on Ctrl-C; the measuring loop notices the dead peer.
	var current atomic.Pointer[exec.Cmd]
	var interrupted atomic.Bool
	sigc := make(chan os.Signal, 1)
	signal.Notify(sigc, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigc)
	go func() {
		for range sigc {
			interrupted.Store(true)
			if p := current.Load(); p != nil && p.Process != nil {
				p.Process.Kill()
			}
		}
	}()

	pl := newPlan(c)
	prog := newProgress(stderr, !c.Quiet && isTerminal(stderr), pl, c.Rounds)
	defer prog.finish()
	rounds := make(map[string][]sample)
	hists := make(map[string]*hdrhistogram.Histogram)
	skipped := map[string]bool{}
	start := time.Now()
	for r := range c.Rounds {
		for i, name := range pl.names {
			if interrupted.Load() {
				return errors.New("interrupted")
			}
			if skipped[name] {
				continue
			}
			st := prog.begin(r, i, name)
			rc := *c
			rc.Round = r
			s, err := runRound(name, &rc, pl, st, &current)
			if err != nil {
				var ns errNotSupported
				if errors.As(err, &ns) {
					prog.clear()
					fmt.Fprintln(notes, "note:", err)
					skipped[name] = true
					continue
				}
				if interrupted.Load() {
					return errors.New("interrupted")
				}
				return fmt.Errorf("%s, round %d: %w", name, r+1, err)
			}
			rounds[name] = append(rounds[name], s)
			if s.ticks != nil {
				h := hists[name]
				if h == nil {
					h = newHistogram()
					hists[name] = h
				}
				recordTicks(h, s.ticks)
			}
		}
	}
	prog.finish()
	var results []result
	for _, name := range pl.names {
		if len(rounds[name]) > 0 {
			results = append(results, summarise(name, c, rounds[name]))
		}
	}
	run := runInfo{c: c, topo: topo, warnings: warnings, took: time.Since(start)}
	return writeOutputs(c, run, results, hists, stdout, notes)
}

// runRound runs one round of one transport: open, start the peer, warm up,
// measure, stop, reap. A watchdog aborts the round when the peer dies or
// stops answering for -timeout.
func runRound(name string, c *config, pl plan, st *roundState, current *atomic.Pointer[exec.Cmd]) (sample, error) {
	n := 0
	if pl.perN > 0 {
		n = c.perRound()
	}
	if name == "floor-c" {
		if n == 0 {
			n = int(min(max(pl.budget.Seconds()*1e6, 1e4), 1e8))
		}
		return runFloor(c, n)
	}
	t := transports[name]
	e, files, err := t.open(c)
	if err != nil {
		return sample{}, err
	}
	cmd, report, err := startPeer(name, c, files)
	for _, f := range files {
		f.Close()
	}
	if err != nil {
		e.stop()
		return sample{}, err
	}
	defer report.Close()
	reports := newReportReader(report)
	current.Store(cmd)
	defer current.Store(nil)

	var stopping atomic.Bool
	exitc := make(chan error, 1)
	quit := make(chan struct{})
	go watch(c, cmd, e, st, &stopping, exitc, quit)
	reaped := false
	defer func() {
		close(quit)
		if !reaped {
			cmd.Process.Kill()
			<-exitc
		}
	}()

	// Wait for the peer to be up and serving: no round times its start-up
	// (exec, runtime, TSC calibration, mapping), which would otherwise
	// land in a throughput round's elapsed time or, in rate mode, pile
	// up messages that are already due.
	readyc := make(chan bool, 1)
	go func() {
		rep, ok := reports.next()
		readyc <- ok && rep.Ready
	}()
	select {
	case ok := <-readyc:
		if !ok {
			cmd.Process.Kill()
			werr := <-exitc
			reaped = true
			return sample{}, fmt.Errorf("peer did not start serving (peer: %v)", werr)
		}
	case <-time.After(c.Timeout):
		return sample{}, errors.New("peer did not start serving within -timeout")
	}
	s, err := drive(c, e, n, pl.budget, st)
	if err != nil {
		// The peer's own words explain more than our timeout does.
		cmd.Process.Kill()
		werr := <-exitc
		reaped = true
		if werr != nil && !strings.Contains(werr.Error(), "killed") {
			return s, fmt.Errorf("%w (peer: %v)", err, werr)
		}
		return s, err
	}
	st.beat.Add(1)
	stopping.Store(true)
	if err := e.stop(); err != nil {
		return s, fmt.Errorf("stop: %w", err)
	}
	select {
	case werr := <-exitc:
		reaped = true
		if werr != nil {
			return s, fmt.Errorf("peer: %w", werr)
		}
	case <-time.After(c.Timeout):
		return s, errors.New("peer did not exit")
	}
	if rep, ok := reports.next(); ok {
		s.cpus[2], s.cpus[3] = rep.CPUStart, rep.CPUEnd
	}
	return s, nil
}

// watch reaps the peer (its exit status goes to exitc) and aborts the end
// when the peer fails, or exits before it was told to stop, or when the
// round (or its stop) makes no progress for -timeout (then it kills the
// peer first). A throughput round's stream is one call with its own
// timeouts: only its stop is watched for progress.
func watch(c *config, cmd *exec.Cmd, e end, st *roundState, stopping *atomic.Bool, exitc chan<- error, quit <-chan struct{}) {
	waitc := make(chan error, 1)
	go func() { waitc <- cmd.Wait() }()
	tick := time.NewTicker(c.Timeout)
	defer tick.Stop()
	last := st.beat.Load()
	for {
		select {
		case err := <-waitc:
			if err != nil || !stopping.Load() {
				if a, ok := e.(aborter); ok {
					a.abort()
				}
			}
			exitc <- err
			return
		case <-tick.C:
			b := st.beat.Load()
			if b == last && (c.Mode != "throughput" || stopping.Load()) {
				cmd.Process.Kill() // the exit aborts the end
			}
			last = b
		case <-quit:
			// The round is over; keep reaping so exitc is always filled.
			tick.Stop()
			quit = nil
		}
	}
}

// recordTicks records every sample, in nanoseconds, into h.
func recordTicks(h *hdrhistogram.Histogram, ticks []uint64) {
	for _, t := range ticks {
		h.RecordValue(max(ns(t), 1))
	}
}

// drive runs the measuring loop of the config's mode, on a pinned agent
// (of the configured mode) or, for netpoller ends, on an ordinary
// goroutine in a process confined to the CPU; n is the round's message
// count (0: run for budget), budget the round's time (0: none).
func drive(c *config, e end, n int, budget time.Duration, st *roundState) (sample, error) {
	s := sample{cpus: [4]int{-1, -1, -1, -1}}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var (
		derr     error
		duty     func() int
		finished bool
	)
	tps := asm.TicksPerSecond()
	budgetTicks := uint64(budget.Seconds() * tps)
	finish := func(elapsed uint64) {
		s.elapsed = elapsed
		s.cpus[1] = affinity.CurrentCPU()
		finished = true
		cancel()
	}
	fail := func(err error) int {
		derr = err
		finished = true
		cancel()
		return 0
	}
	switch c.Mode {
	case "throughput":
		duty = func() int {
			if finished {
				return 0
			}
			s.cpus[0] = affinity.CurrentCPU()
			t0 := asm.Ticks()
			if err := e.stream(n, c.Batch); err != nil {
				return fail(err)
			}
			s.n = n
			st.done.Store(int64(n))
			finish(asm.Ticks() - t0)
			return 1
		}
	case "rate":
		re, ok := e.(rateEnd)
		if !ok {
			return s, errNotSupported{"this transport", "rate"}
		}
		duty = rateDuty(c, re, n, budget, st, &s, finish, fail)
	default:
		duty = latencyDuty(c, e, n, budgetTicks, st, &s, finish, fail)
	}
	if _, ok := e.(netpollEnd); ok {
		undo, err := pinProcess(c.CPUs[0])
		if err != nil {
			return s, err
		}
		defer undo()
		done := make(chan struct{})
		go func() {
			defer close(done)
			for ctx.Err() == nil {
				duty()
			}
		}()
		<-done
		return s, derr
	}
	mode := agent.Preemptible
	if c.Agent == "dedicated" {
		mode = agent.Dedicated
	}
	agent := &agent.Agent{Name: "pingpong", Mode: mode, Logf: func(string, ...any) {}}
	errc := make(chan error, 1)
	go func() { errc <- agent.Run(ctx, c.CPUs[0], spin.NoOp{}, duty) }()
	if err := <-errc; err != nil {
		return s, err
	}
	return s, derr
}

// maxSamples bounds the samples a round keeps (8 bytes each).
const maxSamples = 50_000_000

// latencyDuty returns the closed-loop duty: warm up, then time each round
// trip from just before the send to just after the echo.
func latencyDuty(c *config, e end, n int, budgetTicks uint64, st *roundState, s *sample, finish func(uint64), fail func(error) int) func() int {
	capacity := min(n, maxSamples)
	if n == 0 {
		capacity = 1 << 16
	}
	s.ticks = make([]uint64, 0, capacity)
	warmTicks := uint64(c.WarmupTime.Seconds() * asm.TicksPerSecond())
	var (
		seq      uint64
		warming  = true
		started  bool
		finished bool
		i        int
		t0       uint64
	)
	return func() int {
		if finished {
			return 0
		}
		if !started {
			started = true
			s.cpus[0] = affinity.CurrentCPU()
			t0 = asm.Ticks()
		}
		if warming {
			if i < c.Warmup && (warmTicks == 0 || i&63 != 0 || asm.Ticks()-t0 < warmTicks) {
				seq++
				if err := e.roundTrip(seq); err != nil {
					finished = true
					return fail(fmt.Errorf("warm-up: %w", err))
				}
				i++
				if i&63 == 0 {
					st.beat.Store(seq)
				}
				return 1
			}
			warming, i = false, 0
			t0 = asm.Ticks()
		}
		seq++
		a := asm.Ticks()
		if err := e.roundTrip(seq); err != nil {
			finished = true
			return fail(err)
		}
		b := asm.Ticks()
		s.ticks = append(s.ticks, b-a)
		i++
		if i&63 == 0 {
			st.beat.Store(seq)
			st.done.Store(int64(i))
			if budgetTicks > 0 && b-t0 >= budgetTicks || i >= maxSamples {
				s.short = n > 0 && i < n
				n = i
			}
		}
		if i == n {
			s.n = i
			st.done.Store(int64(i))
			finished = true
			finish(asm.Ticks() - t0)
		}
		return 1
	}
}

// rateDuty returns the open-loop duty: message k (from 1) is due at
// t0 + (k-1)/rate; every due message is sent (at most window in flight),
// every echo that has come back is timed from its message's due time.
// The first messages, up to the warm-up's count or time, are discarded.
func rateDuty(c *config, e rateEnd, n int, budget time.Duration, st *roundState, s *sample, finish func(uint64), fail func(error) int) func() int {
	tps := asm.TicksPerSecond()
	interval := tps / c.Rate
	warm := c.Warmup
	if c.WarmupTime > 0 {
		warm = min(warm, int(c.Rate*c.WarmupTime.Seconds()))
	}
	if budget > 0 {
		byTime := max(int(c.Rate*budget.Seconds()), 1)
		if n == 0 || byTime < n {
			s.short = n > 0
			n = byTime
		}
	}
	if n > maxSamples {
		s.short, n = true, maxSamples
	}
	s.ticks = make([]uint64, 0, n)
	total := uint64(warm + n)
	window := uint64(e.window())
	timeout := uint64(c.Timeout.Seconds() * tps)
	var (
		t0, last, firstSend, lastSend uint64
		sent, acked, shown            uint64
		started, finished             bool
	)
	due := func(k uint64) uint64 { return t0 + uint64(float64(k-1)*interval) }
	return func() int {
		if finished {
			return 0
		}
		now := asm.Ticks()
		if !started {
			started = true
			s.cpus[0] = affinity.CurrentCPU()
			t0, last = now, now
		}
		work := 0
		for sent < total && sent-acked < window && now >= due(sent+1) {
			ok, err := e.trySend(sent + 1)
			if err != nil {
				finished = true
				return fail(err)
			}
			if !ok {
				break
			}
			sent++
			work++
			if sent == uint64(warm)+1 {
				firstSend = now
			}
			lastSend = now
		}
		up, ok, err := e.tryRecv()
		if err != nil {
			finished = true
			return fail(err)
		}
		if !ok {
			if sent > acked && now-max(last, due(acked+1)) > timeout {
				finished = true
				return fail(errTimeout)
			}
			return work
		}
		t := asm.Ticks()
		if up <= acked || up > sent {
			finished = true
			return fail(fmt.Errorf("echo of seq %d with %d sent and %d echoed", up, sent, acked))
		}
		for acked < up {
			acked++
			if acked > uint64(warm) {
				s.ticks = append(s.ticks, t-due(acked))
			}
		}
		last = t
		st.beat.Store(acked) // every echo: at low rates 64 of them can take longer than -timeout
		if acked-shown >= 64 {
			shown = acked
			st.done.Store(int64(acked) - int64(warm))
		}
		if acked == total {
			s.n = n
			s.sendSpan = lastSend - firstSend
			finished = true
			st.done.Store(int64(n))
			finish(t - due(uint64(warm)+1))
		}
		return work + 1
	}
}
