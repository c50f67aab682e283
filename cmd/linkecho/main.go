// Command linkecho is a lean link server that echoes connbench requests:
// the server process of `pingpong -mode conns`. It is its own small binary
// so that the server's memory — the figure the benchmark reports — is the
// runtime and spinwire, not the benchmark's plotting and statistics code.
//
//	linkecho -name NAME [-dir DIR] [-cpus 1] [-maxconns 4096] [-depth 4]
//
// It prints "READY" once it accepts connections, and exits when its
// standard input closes.
package main

import (
	"context"
	"flag"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"

	"github.com/spinwire/spinwire/internal/connbench"
	"github.com/spinwire/spinwire/spin"
)

func init() { runtime.LockOSThread() }

func main() { os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) }

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("linkecho", flag.ContinueOnError)
	fs.SetOutput(stderr)
	name := fs.String("name", "", "the server's name (required)")
	dir := fs.String("dir", "", "socket directory (default: link.Dir())")
	cpus := fs.String("cpus", "", "comma list: poller i pins to the i-th CPU")
	maxConns := fs.Int("maxconns", 4096, "connections")
	depth := fs.Int("depth", 4, "slots per ring")
	dedicated := fs.Bool("dedicated", false, "run the pollers as dedicated agents (needs GODEBUG=asyncpreemptoff=1)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *name == "" {
		io.WriteString(stderr, "linkecho: -name is required\n")
		return 2
	}
	cfg := connbench.ServerConfig{Name: *name, Dir: *dir, MaxConns: *maxConns, Depth: *depth, Pollers: 1}
	if *cpus != "" {
		for _, s := range strings.Split(*cpus, ",") {
			n, err := strconv.Atoi(s)
			if err != nil {
				io.WriteString(stderr, "linkecho: -cpus: "+err.Error()+"\n")
				return 2
			}
			cfg.CPUs = append(cfg.CPUs, n)
		}
		cfg.Pollers = len(cfg.CPUs)
	}
	if *dedicated {
		cfg.Mode = spin.Dedicated
	}
	// The runtime rules for a spinning process: GOMAXPROCS explicit, GC
	// off — the steady state allocates nothing — with a limit as a guard.
	// (Measured: with the GC on, the server's RSS is larger, not smaller:
	// its metadata costs more than the set-up garbage it would free.)
	runtime.GOMAXPROCS(cfg.Pollers + 2)
	debug.SetGCPercent(-1)
	debug.SetMemoryLimit(64 << 20)
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		io.Copy(io.Discard, stdin)
		cancel()
	}()
	if err := connbench.Serve(ctx, cfg, func() { io.WriteString(stdout, "READY\n") }); err != nil {
		io.WriteString(stderr, "linkecho: "+err.Error()+"\n")
		return 1
	}
	return 0
}
