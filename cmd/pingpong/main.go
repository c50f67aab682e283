// Command pingpong measures what this host's CPUs can do for cross-process
// messaging: the spinwire rings beside the least Go can do (raw), the C
// floor, and the kernel's transports, on the same CPUs, in interleaved
// rounds, with honest percentiles.
//
//	pingpong [-transport all|spinwire,raw,uds,…] [-mode latency|rate|throughput] [-n N] [-size B] …
//
// It starts its peer by re-executing itself; both sides pin themselves
// (-cpus A,B, default: affinity.Plan(2)). Run `pingpong -h` for every flag.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"

	"github.com/spinwire/spinwire/cmd/internal/echo"
	"github.com/spinwire/spinwire/cmd/internal/restartbench"
	"github.com/spinwire/spinwire/link"
)

func init() {
	// A program that spins locks its main goroutine to the main thread, so
	// no spinner ever lands on m0 (GO-RUNTIME.md, "Threads and affinity").
	runtime.LockOSThread()
}

func main() {
	if os.Getenv(peerEnv) != "" {
		os.Exit(peerMain())
	}
	if restartbench.Role() != "" {
		os.Exit(restartChild())
	}
	if os.Getenv(linkServerEnv) != "" {
		os.Exit(echo.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
	}
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run is the command with its arguments and outputs, for tests. It returns
// the exit status: 0, 1 on a failed measurement, 2 on a usage error.
func run(args []string, stdout, stderr io.Writer) int {
	c, err := parseFlags(args, stderr)
	if err != nil {
		if err == errHelp {
			return 0
		}
		fmt.Fprintln(stderr, "pingpong:", err)
		return 2
	}
	if c.version {
		fmt.Fprintln(stdout, "pingpong", version(), runtime.Version(), runtime.GOOS+"/"+runtime.GOARCH)
		return 0
	}
	if c.Cleanup != "" {
		if err := link.Cleanup(c.Cleanup); err != nil {
			fmt.Fprintln(stderr, "pingpong: -cleanup:", err)
			return 1
		}
		fmt.Fprintln(stdout, "pingpong: removed what a dead server left for", c.Cleanup)
		return 0
	}
	if reexec, err := maybeReexec(c); reexec || err != nil {
		if err != nil {
			fmt.Fprintln(stderr, "pingpong:", err)
			return 1
		}
		return 0 // not reached: exec replaced the process
	}
	measureFn := measure
	switch {
	case c.Check:
		measureFn = check
	case c.Mode == "conns":
		measureFn = measureConns
	case c.Mode == "restart":
		measureFn = measureRestart
	}
	if err := measureFn(c, stdout, stderr); err != nil {
		fmt.Fprintln(stderr, "pingpong:", err)
		var u usageError
		if errors.As(err, &u) {
			return 2
		}
		return 1
	}
	return 0
}
