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
	"syscall"
	"time"

	"github.com/spinwire/spinwire/affinity"
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
	if !allowReexec || c.Agent != "dedicated" || spin.AsyncPreemptOff() {
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
	ticks   []uint64 // round-trip times in ticks (latency mode)
	elapsed uint64   // ticks for the whole round
	n       int
	floor   *result // a floor program's own report, when the round ran one
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
	if !c.cpusGiven {
		plan, err := affinity.Plan(2)
		if err != nil {
			return fmt.Errorf("choosing CPUs: %w (give -cpus A,B)", err)
		}
		c.CPUs = [2]int{plan.CPUs[0], plan.CPUs[1]}
		for _, w := range plan.Warnings {
			fmt.Fprintln(notes, "note:", w)
		}
	}
	allowed, err := affinity.Allowed()
	if err != nil {
		return err
	}
	for _, cpu := range c.CPUs {
		if !allowed.Contains(cpu) {
			return fmt.Errorf("-cpus: CPU %d is not in this process's allowed set %s", cpu, allowed)
		}
	}
	if c.CPUs[0] == c.CPUs[1] {
		fmt.Fprintln(notes, "warning: both peers on one CPU: spinning transports will time-slice, not measure the interconnect")
	} else if topo.SameCore(c.CPUs[0], c.CPUs[1]) {
		fmt.Fprintln(notes, "warning: the two CPUs are SMT siblings of one physical core")
	}
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
		return errors.New("-transport none measures nothing; add -check to see the host's findings")
	}
	asm.TicksPerSecond() // calibrate before anything is timed

	// Kill and reap peers on Ctrl-C; the measuring loop notices the dead peer.
	var peers []*exec.Cmd
	sigc := make(chan os.Signal, 1)
	signal.Notify(sigc, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigc)
	interrupted := false
	go func() {
		for range sigc {
			interrupted = true
			for _, p := range peers {
				if p != nil && p.Process != nil {
					p.Process.Kill()
				}
			}
		}
	}()

	names := slices.Clone(c.Transports)
	if fl := floorProgram(c); fl != "" {
		names = append(names, "floor-c")
	}
	rounds := make(map[string][]sample)
	perRound := c.N / c.Rounds
	for r := range c.Rounds {
		for _, name := range names {
			if interrupted {
				return errors.New("interrupted")
			}
			s, err := runRound(name, c, perRound, &peers)
			if err != nil {
				var ns errNotSupported
				if errors.As(err, &ns) {
					if r == 0 {
						fmt.Fprintln(notes, "note:", err)
					}
					continue
				}
				return fmt.Errorf("%s, round %d: %w", name, r+1, err)
			}
			rounds[name] = append(rounds[name], s)
		}
	}
	var results []result
	for _, name := range names {
		if len(rounds[name]) > 0 {
			results = append(results, summarise(name, c, rounds[name]))
		}
	}
	if c.JSON {
		return writeJSON(stdout, results)
	}
	writeHeader(stdout, c, topo)
	return writeTable(stdout, c, results)
}

// runRound runs one round of one transport: open, start the peer, warm up,
// measure, stop, reap.
func runRound(name string, c *config, n int, peers *[]*exec.Cmd) (sample, error) {
	if name == "floor-c" {
		return runFloor(c, n)
	}
	t := transports[name]
	e, files, err := t.open(c)
	if err != nil {
		return sample{}, err
	}
	cmd, err := startPeer(name, c, files)
	for _, f := range files {
		f.Close()
	}
	if err != nil {
		e.stop()
		return sample{}, err
	}
	*peers = append(*peers, cmd)
	defer func() {
		cmd.Process.Kill()
		cmd.Wait()
	}()
	s, err := drive(c, e, n)
	if err != nil {
		// The peer's own words explain more than our timeout does.
		cmd.Process.Kill()
		if werr := cmd.Wait(); werr != nil && !strings.Contains(werr.Error(), "killed") {
			return s, fmt.Errorf("%w (peer: %v)", err, werr)
		}
		return s, err
	}
	if err := e.stop(); err != nil {
		return s, err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			return s, fmt.Errorf("peer: %w", err)
		}
	case <-time.After(c.Timeout):
		return s, errors.New("peer did not exit")
	}
	return s, nil
}

// drive runs the measuring loop on a pinned agent (of the configured mode)
// and returns the round's sample.
func drive(c *config, e end, n int) (sample, error) {
	mode := spin.Preemptible
	if c.Agent == "dedicated" {
		mode = spin.Dedicated
	}
	s := sample{n: n}
	if c.Mode == "latency" {
		s.ticks = make([]uint64, n)
	}
	var (
		ctx, cancel = context.WithCancel(context.Background())
		i           = -c.Warmup
		derr        error
		t0          uint64
	)
	defer cancel()
	duty := func() int {
		switch {
		case derr != nil || i >= n:
			return 0
		case c.Mode == "throughput":
			t0 = asm.Ticks()
			derr = e.stream(n, c.Batch)
			s.elapsed = asm.Ticks() - t0
			i = n
			cancel()
			return 1
		}
		if i == 0 {
			t0 = asm.Ticks()
		}
		a := asm.Ticks()
		if err := e.roundTrip(uint64(i + c.Warmup + 1)); err != nil {
			derr = err
			cancel()
			return 0
		}
		if i >= 0 {
			s.ticks[i] = asm.Ticks() - a
		}
		i++
		if i == n {
			s.elapsed = asm.Ticks() - t0
			cancel()
		}
		return 1
	}
	agent := &spin.Agent{Name: "pingpong", Mode: mode, Logf: func(string, ...any) {}}
	errc := make(chan error, 1)
	go func() { errc <- agent.Run(ctx, c.CPUs[0], spin.NoOp{}, duty) }()
	if err := <-errc; err != nil {
		return s, err
	}
	return s, derr
}
