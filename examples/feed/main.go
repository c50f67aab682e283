// Command feed is a market-data fan-out: one publisher writes fixed-layout
// Ticks into a named topic (package topic), and any number of subscriber
// processes, found by name, take them in batches and print the latency and
// the losses each observes once a second.
//
//	feed publish   [-policy lossy|reliable] [-rate 100000] [-duration 5s]  # terminal 1
//	feed subscribe [-slow 20µs] [-idle spin|wait]                           # terminals 2, 3, …
//	feed demo      [-subs 3] [-policy both|lossy|reliable]                  # all at once
//
// demo runs the publisher and re-executes this program once per
// subscriber, the last one slow, under each policy in turn: lossy (the
// publisher never waits; the slow subscriber is lapped and counts what it
// lost) and reliable (the publisher waits for the slowest subscriber;
// nobody loses a tick). Every role ends by itself (the publisher after
// -duration, a subscriber at the publisher's last tick) and on Ctrl-C.
// examples/README.md walks through the code.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"strconv"
	"syscall"

	"github.com/spinwire/spinwire/affinity"
)

// Lock the main goroutine to the main thread for good. The spinners run on
// agent.Agents, which lock their own goroutines to threads; with the main
// goroutine holding m0, no spinner ever lands on the main thread (a locked
// goroutine that exits on m0 wedges it instead of ending it).
func init() { runtime.LockOSThread() }

func main() { os.Exit(mainExit(os.Args[1:])) }

// mainExit runs the program with Ctrl-C (SIGINT) and SIGTERM turned into a
// cancelled context, and returns the exit status.
func mainExit(args []string) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// After the first signal, restore the default action: a second Ctrl-C
	// kills at once if the clean-up hangs.
	context.AfterFunc(ctx, stop)
	switch err := run(ctx, args, os.Stdout, os.Stderr); {
	case err == nil:
		return 0
	case errors.Is(err, errUsage), errors.Is(err, flag.ErrHelp):
		return 2
	default:
		fmt.Fprintln(os.Stderr, "feed:", err)
		return 1
	}
}

var errUsage = errors.New("usage")

const usage = `usage:
  feed publish   [flags]   create the topic and publish ticks
  feed subscribe [flags]   subscribe to it and print latency and losses
  feed demo      [flags]   publish, with -subs subscribers started by re-executing this program
Run "feed <command> -h" for the flags.
`

// run is the whole program, minus signal handling: tests call it.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errUsage
	}
	switch args[0] {
	case "publish":
		cfg, err := parsePublish(args[0], args[1:], stderr)
		if err != nil {
			return err
		}
		_, err = publish(ctx, cfg, stdout, stderr)
		return err
	case "subscribe":
		cfg, err := parseSubscribe(args[1:], stderr)
		if err != nil {
			return err
		}
		_, err = subscribe(ctx, cfg, stdout, stderr)
		return err
	case "demo":
		cfg, err := parsePublish(args[0], args[1:], stderr)
		if err != nil {
			return err
		}
		return demo(ctx, cfg, stdout, stderr)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprintf(stderr, "feed: unknown command %q\n%s", args[0], usage)
	return errUsage
}

// memoryLimit is the heap size at which the GC comes back on: the guard
// that goes with turning it off. The steady state allocates nothing, so the
// heap stays at a few hundred kilobytes and the limit is never reached; if
// something did leak, the process would collect garbage instead of growing
// without bound.
const memoryLimit = 256 << 20

// tuneRuntime applies the Go runtime rules for a process that spins and
// returns GOMAXPROCS:
//
//   - GOMAXPROCS is set explicitly (procs, or the larger of the CPU count and
//     spinners + 2), so each spinner owns a P and the runtime's own work —
//     timers, the netpoller, this program's printing — still has two. An
//     explicit setting also stops Go 1.25+ from adjusting GOMAXPROCS by
//     itself, which would stop the world.
//   - The GC is off (debug.SetGCPercent(-1)): the hot paths allocate nothing,
//     so there is no garbage to collect and no collection to stall a
//     spinner; debug.SetMemoryLimit is the guard (see memoryLimit).
func tuneRuntime(spinners, procs int) int {
	if procs <= 0 {
		procs = max(runtime.NumCPU(), spinners+2)
	}
	runtime.GOMAXPROCS(procs)
	debug.SetGCPercent(-1)
	debug.SetMemoryLimit(memoryLimit)
	return procs
}

// chooseCPU turns a -cpu flag into the CPU an agent pins to: a number is
// taken as given, "none" locks the thread without pinning it (-1), and
// "auto" asks affinity.Plan for two CPUs — the feed's two spinners — and
// takes the one of this role (0: publisher, 1: subscriber). Plan is a pure
// function of the host's topology and the process's allowed CPUs, so two
// processes started the same way agree without talking to each other. Plan's
// warnings (no isolated CPUs, CPU 0 used, …) go to warn.
func chooseCPU(flagValue string, role int, warn io.Writer) (int, error) {
	switch flagValue {
	case "none":
		return -1, nil
	case "auto", "":
		plan, err := affinity.Plan(2)
		if err != nil {
			fmt.Fprintf(warn, "feed: not pinning: %v\n", err)
			return -1, nil
		}
		for _, w := range plan.Warnings {
			fmt.Fprintln(warn, "feed: cpu plan:", w)
		}
		return plan.CPUs[role], nil
	}
	cpu, err := strconv.Atoi(flagValue)
	if err != nil || cpu < 0 {
		return 0, fmt.Errorf("%w: -cpu %q: want auto, none or a CPU number", errUsage, flagValue)
	}
	return cpu, nil
}

func cpuName(cpu int) string {
	if cpu < 0 {
		return "not pinned"
	}
	return "cpu " + strconv.Itoa(cpu)
}
