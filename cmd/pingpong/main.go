// pingpong sets GOMAXPROCS itself (setMaxProcs): the runtime's background
// updater is off from the start, as -check's go-updatemaxprocs finding asks
// of a program that spins.

//go:debug updatemaxprocs=0

package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"

	"github.com/spinwire/spinwire/cmd/internal/connbench"
	"github.com/spinwire/spinwire/cmd/internal/echo"
	"github.com/spinwire/spinwire/cmd/internal/fanout"
	"github.com/spinwire/spinwire/cmd/internal/restartbench"
	"github.com/spinwire/spinwire/link"
)

func init() {
	// A program that spins locks its main goroutine to the main thread, so
	// no spinner ever lands on m0 (docs/go-runtime.md).
	runtime.LockOSThread()
}

func main() {
	if os.Getenv(peerEnv) != "" {
		os.Exit(peerMain())
	}
	if restartbench.Role() != "" {
		os.Exit(restartChild())
	}
	connbench.HoldIfAsked()
	fanout.ChildIfAsked()
	if os.Getenv(linkServerEnv) != "" {
		os.Exit(echo.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
	}
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run is the command with its arguments and outputs, for tests. It returns
// the exit status: 0, 1 on a failed measurement (or check), 2 on a usage
// error.
func run(args []string, stdout, stderr io.Writer) int {
	c, err := parseFlags(args, stdout)
	switch {
	case err == errHelp:
		return 0
	case err != nil:
		fmt.Fprintln(stderr, "pingpong:", err)
		return 2
	case c.version:
		fmt.Fprintln(stdout, "pingpong", version(), runtime.Version(), runtime.GOOS+"/"+runtime.GOARCH)
		return 0
	case c.Cleanup != "":
		return cleanup(c.Cleanup, stdout, stderr)
	}
	if reexec, err := maybeReexec(c); reexec || err != nil {
		if err != nil {
			fmt.Fprintln(stderr, "pingpong:", err)
			return 1
		}
		return 0 // not reached: exec replaced the process
	}
	if err := action(c)(c, stdout, stderr); err != nil {
		fmt.Fprintln(stderr, "pingpong:", err)
		var u usageError
		if errors.As(err, &u) {
			return 2
		}
		return 1
	}
	return 0
}

// action is what the command line asks for: -check, or the mode's
// measurement.
func action(c *config) func(*config, io.Writer, io.Writer) error {
	switch {
	case c.Check:
		return check
	case c.Mode == "conns":
		return measureConns
	case c.Mode == "restart":
		return measureRestart
	case c.Mode == "fanout":
		return measureFanout
	case c.Mode == "streams":
		return measureStreams
	}
	return measure
}

// cleanup is -cleanup NAME: it removes the socket and lock file a dead
// link server named NAME left.
func cleanup(name string, stdout, stderr io.Writer) int {
	if err := link.Cleanup(name); err != nil {
		fmt.Fprintln(stderr, "pingpong: -cleanup:", err)
		return 1
	}
	fmt.Fprintln(stdout, "pingpong: removed what a dead server left for", name)
	return 0
}
