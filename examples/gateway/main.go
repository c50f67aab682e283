// Command gateway is an order-entry example: a server that validates
// fixed-layout Orders arriving over spinwire's link (shared-memory rings,
// polled by a pinned spinner) and answers each with an Ack, and a client
// that sends orders with Conn.Call and prints the call latency percentiles.
//
//	gateway serve                          # terminal 1; Ctrl-C stops it
//	gateway client -n 100000 -conns 4      # terminal 2
//
// The client sends a deliberately invalid order now and then (-bad) and
// checks that each is rejected with the right status. With `serve
// -exchange` the server acknowledges accepted orders later, from a
// simulated exchange goroutine: the handler defers the call
// (link.Caller.Defer) and the exchange answers it (link.Server.Reply).
// With `client -fills` the client also takes the fill of each accepted
// order, which the gateway pushes to the connection the order came on
// (link.ListenPush, link.PushServer.Push, link.DialPush). examples/README.md
// walks through the code.
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
	"strings"
	"syscall"

	"github.com/spinwire/spinwire/affinity"
)

// Lock the main goroutine to the main thread for good, so that no spinner
// (the server's pollers are agent.Agents, which lock their own goroutines)
// ever lands on it.
func init() { runtime.LockOSThread() }

func main() { os.Exit(mainExit(os.Args[1:])) }

// mainExit runs the program with Ctrl-C (SIGINT) and SIGTERM turned into a
// cancelled context — the graceful shutdown — and returns the exit status.
func mainExit(args []string) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	context.AfterFunc(ctx, stop) // a second Ctrl-C kills at once
	switch err := run(ctx, args, os.Stdout, os.Stderr); {
	case err == nil:
		return 0
	case errors.Is(err, errUsage), errors.Is(err, flag.ErrHelp):
		return 2
	default:
		fmt.Fprintln(os.Stderr, "gateway:", err)
		return 1
	}
}

var errUsage = errors.New("usage")

const usage = `usage:
  gateway serve  [flags]                 serve orders until Ctrl-C
  gateway client [-n N] [-conns K] ...   send N orders over K connections
Run "gateway <command> -h" for the flags.
`

// run is the whole program, minus signal handling: tests call it.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errUsage
	}
	switch args[0] {
	case "serve":
		cfg, err := parseServe(args[1:], stderr)
		if err != nil {
			return err
		}
		_, err = serve(ctx, cfg, stdout, stderr)
		return err
	case "client":
		cfg, err := parseClient(args[1:], stderr)
		if err != nil {
			return err
		}
		_, err = client(ctx, cfg, stdout, stderr)
		return err
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprintf(stderr, "gateway: unknown command %q\n%s", args[0], usage)
	return errUsage
}

// memoryLimit is the heap size at which the GC comes back on, the guard
// that goes with turning it off: the call paths allocate nothing, so it is
// never reached unless something leaks.
const memoryLimit = 256 << 20

// tuneRuntime applies the Go runtime rules for a process that spins and
// returns GOMAXPROCS: set explicitly (procs, or the larger of the CPU count
// and spinners + 2, so each spinner owns a P and the runtime's own work
// still has two; an explicit value also stops Go 1.25+ from changing it
// behind our back, which stops the world), and the GC off with a memory
// limit as the guard.
func tuneRuntime(spinners, procs int) int {
	if procs <= 0 {
		procs = max(runtime.NumCPU(), spinners+2)
	}
	runtime.GOMAXPROCS(procs)
	debug.SetGCPercent(-1)
	debug.SetMemoryLimit(memoryLimit)
	return procs
}

// chooseCPUs turns a -cpu flag into the CPUs of n pollers: "auto" asks
// affinity.Plan (isolated CPUs first, distinct physical cores, never CPU 0
// when others exist) and prints its warnings to warn; "none" pins nothing;
// otherwise a comma-separated list of CPU numbers.
func chooseCPUs(flagValue string, n int, warn io.Writer) ([]int, error) {
	switch flagValue {
	case "none":
		return nil, nil
	case "auto", "":
		plan, err := affinity.Plan(n)
		if err != nil {
			fmt.Fprintf(warn, "gateway: not pinning: %v\n", err)
			return nil, nil
		}
		for _, w := range plan.Warnings {
			fmt.Fprintln(warn, "gateway: cpu plan:", w)
		}
		return plan.CPUs, nil
	}
	var cpus []int
	for f := range strings.SplitSeq(flagValue, ",") {
		cpu, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || cpu < 0 {
			return nil, fmt.Errorf("%w: -cpu %q: want auto, none or CPU numbers (2,3)", errUsage, flagValue)
		}
		cpus = append(cpus, cpu)
	}
	return cpus, nil
}

func logTo(w io.Writer) func(string, ...any) {
	return func(format string, args ...any) { fmt.Fprintf(w, format+"\n", args...) }
}
