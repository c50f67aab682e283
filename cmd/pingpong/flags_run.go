package main

import (
	"flag"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// runFlags are the flags of every mode: where and how the run goes, what
// it prints, and the actions that replace a run (-check, -cleanup,
// -version, -help-all). A mode that has no use for one (-cpus in restart
// mode, -floor in conns mode) ignores it, so that one command line (the
// Makefile's -floor build) serves every mode.
type runFlags struct {
	cpus string
}

func (f *runFlags) define(fs *flag.FlagSet, c *config) {
	fs.StringVar(&c.Mode, "mode", "latency", "latency, rate, throughput, conns, restart, fanout or streams")
	fs.StringVar(&f.cpus, "cpus", "", "CPUs of the two processes (default: affinity.Plan(2))")
	fs.StringVar(&c.Agent, "agent", "dedicated", "dedicated or preemptible spinners")
	fs.IntVar(&c.Rounds, "rounds", 3, "interleaved rounds, 1…100")
	fs.DurationVar(&c.Duration, "duration", 0, "instead of -n: about this long per transport (conns: 6s)")
	fs.DurationVar(&c.Timeout, "timeout", 60*time.Second, "give up on a peer silent for this long")
	fs.StringVar(&c.FloorDir, "floor", "", "run the C floor programs in dir (make floor: build) in the same rounds")
	fs.BoolVar(&c.JSON, "json", false, "one JSON object per result instead of the table")
	fs.BoolVar(&c.Quiet, "quiet", false, "no notes and no progress line on stderr")
	fs.BoolVar(&c.Check, "check", false, "print the host's tuning findings and exit")
	fs.BoolVar(&c.Stat, "stat", false, "publish the rings in the stat registry: watch them with spinstat")
	fs.StringVar(&c.Cleanup, "cleanup", "", "remove what a dead link server NAME left, and exit")
	fs.BoolVar(&c.version, "version", false, "print the version and exit")
	fs.BoolVar(&c.helpAll, "help-all", false, "every flag of every mode, and how to read the output")
}

func (f *runFlags) check(c *config, given map[string]bool) error {
	if c.Rounds < 1 || c.Rounds > 100 {
		return fmt.Errorf("-rounds %d: want 1…100", c.Rounds)
	}
	if least := 10 * time.Millisecond * time.Duration(c.Rounds); c.Duration != 0 && (c.Duration < least || c.Duration > 24*time.Hour) {
		return fmt.Errorf("-duration %v: want %v…24h (at least 10ms per round)", c.Duration, least)
	}
	if c.Agent != "dedicated" && c.Agent != "preemptible" {
		return fmt.Errorf("-agent %q: want dedicated or preemptible", c.Agent)
	}
	if c.Timeout < time.Second {
		return fmt.Errorf("-timeout %v: want at least 1s", c.Timeout)
	}
	if f.cpus != "" {
		a, b, ok := strings.Cut(f.cpus, ",")
		x, err1 := strconv.Atoi(strings.TrimSpace(a))
		y, err2 := strconv.Atoi(strings.TrimSpace(b))
		if !ok || err1 != nil || err2 != nil || x < 0 || y < 0 {
			return fmt.Errorf("-cpus %q: want two CPU numbers A,B", f.cpus)
		}
		c.CPUs, c.cpusGiven = [2]int{x, y}, true
	}
	return nil
}
