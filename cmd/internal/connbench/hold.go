package connbench

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"time"

	"github.com/spinwire/spinwire/link"
)

// Holders: with ClientConfig.Procs > 1, Run spreads the connections over
// Procs client processes — itself and Procs-1 holders, re-executions of
// the running binary that dial their share, print "HELD" and keep their
// connections attached and idle until their standard input closes. The
// server then serves Procs client processes, an arena each: the figure
// the memory target names (1000 connections from 10 processes).
const (
	holdEnv = "SPINWIRE_CONNBENCH_HOLD" // "name dir conns push" for a holder (push: 0 or 1, DialPush)
)

// HoldIfAsked makes this process a holder if Run started it as one: it
// dials, holds and exits, and does not return. A binary that runs
// ClientConfigs with Procs > 1 (pingpong, the tests) calls it first thing.
func HoldIfAsked() {
	spec := os.Getenv(holdEnv)
	if spec == "" {
		return
	}
	if err := hold(spec); err != nil {
		fmt.Fprintln(os.Stderr, "connbench holder:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

func hold(spec string) error {
	var name, dir string
	var n, push int
	if _, err := fmt.Sscanf(spec, "%s %s %d %d", &name, &dir, &n, &push); err != nil {
		return fmt.Errorf("%s=%q: %w", holdEnv, spec, err)
	}
	conns := make([]*link.Conn[Msg, Resp], 0, n)
	for i := range n {
		var c *link.Conn[Msg, Resp]
		var err error
		if push == 1 {
			var pc *link.PushConn[Msg, Resp, Msg]
			if pc, err = link.DialPush[Msg, Resp, Msg](name, link.DialOptions{Dir: dir}); err == nil {
				c = pc.Conn
			}
		} else {
			c, err = link.Dial[Msg, Resp](name, link.DialOptions{Dir: dir})
		}
		if err != nil {
			return fmt.Errorf("dial %d of %d: %w", i+1, n, err)
		}
		conns = append(conns, c)
	}
	fmt.Println("HELD")
	io.Copy(io.Discard, os.Stdin)
	for _, c := range conns {
		c.Close()
	}
	return nil
}

// holder is a running holder process.
type holder struct {
	cmd   *exec.Cmd
	stdin io.Closer
}

// startHolders starts procs-1 holders with n connections each and waits
// up to wait for every one to say it holds them.
func startHolders(cfg ClientConfig, procs, n int, wait time.Duration) ([]holder, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	var hs []holder
	for range procs - 1 {
		cmd := exec.Command(self)
		push := "0"
		if cfg.Push {
			push = "1"
		}
		cmd.Env = append(os.Environ(), holdEnv+"="+cfg.Name+" "+cfg.Dir+" "+strconv.Itoa(n)+" "+push)
		cmd.Stderr = os.Stderr
		stdin, _ := cmd.StdinPipe()
		out, _ := cmd.StdoutPipe()
		if err := cmd.Start(); err != nil {
			stopHolders(hs)
			return nil, err
		}
		hs = append(hs, holder{cmd, stdin})
		if err := awaitLine(out, "HELD", wait); err != nil {
			stopHolders(hs)
			return nil, fmt.Errorf("holder %d: %w", len(hs), err)
		}
	}
	return hs, nil
}

// stopHolders closes each holder's stdin, its signal to close its
// connections and exit, and reaps it (killing it after 5 s).
func stopHolders(hs []holder) {
	for _, h := range hs {
		stop(h.cmd, h.stdin)
	}
}

// awaitLine waits up to d for the line want on out, then discards the
// rest of out.
func awaitLine(out io.Reader, want string, d time.Duration) error {
	got := make(chan error, 1)
	go func() {
		line, err := bufio.NewReader(out).ReadString('\n')
		if err == nil && line != want+"\n" {
			err = fmt.Errorf("said %q", line)
		}
		got <- err
		io.Copy(io.Discard, out)
	}()
	select {
	case err := <-got:
		return err
	case <-time.After(d):
		return errors.New("no " + want + " within " + d.String())
	}
}
