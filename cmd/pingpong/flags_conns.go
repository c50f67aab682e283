package main

import (
	"errors"
	"flag"
	"fmt"
)

// Connection counts: the most -conns takes; conns mode's default, the
// headline load (the README's 1000 connections); restart mode's, which
// keeps a kill round short.
const (
	maxConns            = 100_000
	defaultConns        = 1000
	defaultRestartConns = 100
)

// connCountFlags is the flag conns and restart modes share: -conns, which
// implies conns mode when no -mode is given.
type connCountFlags struct{}

func (connCountFlags) define(fs *flag.FlagSet, c *config) {
	fs.IntVar(&c.Conns, "conns", 0, fmt.Sprintf("connections, 1…%d (default %d, restart %d; implies -mode conns)", maxConns, defaultConns, defaultRestartConns))
}

func (connCountFlags) check(c *config, given map[string]bool) error {
	switch {
	case given["conns"] && (c.Conns < 1 || c.Conns > maxConns):
		return fmt.Errorf("-conns %d: want 1…%d", c.Conns, maxConns)
	case given["conns"]:
	case c.Mode == "restart":
		c.Conns = defaultRestartConns
	default:
		c.Conns = defaultConns
	}
	return nil
}

// procsFlags is the flag conns, restart and fanout modes share: -procs,
// the processes their connections or subscriptions are spread over.
type procsFlags struct{}

func (procsFlags) define(fs *flag.FlagSet, c *config) {
	fs.IntVar(&c.Procs, "procs", 0, "client (fanout: subscriber) processes, 1…-conns (-subs); default 1, restart min(4, -conns)")
}

func (procsFlags) check(c *config, given map[string]bool) error {
	switch {
	case given["procs"]:
	case c.Mode == "restart":
		c.Procs = min(4, c.Conns)
	default:
		c.Procs = 1
	}
	if c.Mode != "fanout" && (c.Procs < 1 || c.Procs > c.Conns) {
		return fmt.Errorf("-procs %d: want 1…%d (-conns)", c.Procs, c.Conns)
	}
	return nil
}

// connsFlags are conns mode's: how the load is spread over the
// connections.
type connsFlags struct{}

func (connsFlags) define(fs *flag.FlagSet, c *config) {
	fs.IntVar(&c.Pipeline, "pipeline", 0, "requests in flight per connection, 1…1024 (default 1: closed loop)")
	fs.BoolVar(&c.Rotate, "rotate", false, "one call in flight in all, to each connection in turn")
	fs.IntVar(&c.Active, "active", 0, "send on the first N connections only, the others attached and idle")
	fs.BoolVar(&c.Defer, "defer", false, "the server's handler defers every call; a replier goroutine answers it")
	fs.BoolVar(&c.Push, "push", false, "every connection takes pushes (link DialPush); the server pushes one per request")
}

func (connsFlags) check(c *config, given map[string]bool) error {
	if given["pipeline"] {
		if c.Pipeline < 1 || c.Pipeline > 1024 {
			return fmt.Errorf("-pipeline %d: want 1…1024", c.Pipeline)
		}
		if c.Rotate {
			return errors.New("-pipeline and -rotate: -rotate keeps one call in flight in all")
		}
	}
	if given["active"] && (c.Active < 1 || c.Active > c.Conns) {
		return fmt.Errorf("-active %d: want 1…%d (-conns)", c.Active, c.Conns)
	}
	if c.Push && c.Defer {
		return errors.New("-push and -defer: one variant at a time")
	}
	c.Pipeline = max(c.Pipeline, 1)
	return nil
}

// connsText is conns mode's help text.
const connsText = `conns: request/response through link. One client process (this one, on
CPU A) drives -conns connections (default 1000) from one pinned thread
against a server process (cmd/linkecho, found next to this binary, else this
binary re-executed) with one poller on CPU B: -pipeline requests in flight on
each connection (1: closed loop), or with -rotate one call in flight in all,
to each connection in turn (the latency of a call with -conns attached,
without the queueing of -conns calls in flight); -active N sends on N of
them only, the rest attached and idle; -procs P spreads the connections
over P client processes, this one driving its share and P-1 others holding
theirs attached and idle (the server then keeps an arena per process); -defer
makes the server's handler defer every call (link Caller.Defer) and a replier
goroutine answer it (Server.Reply), the server needing a CPU more; -push
dials every connection for pushes (link DialPush: a push ring each, idle
until used) and has the handler push the request back (Push) before its
response, and reports the pushes' latency from the server's Push to the
client taking it as well. It reports requests/s, the latency
from send to response, and the server's memory (VmRSS, RssAnon, RssFile,
RssShmem from /proc) read at the end of the load, every connection still
attached, and its VmRSS before the load (an attached connection that has
carried nothing has no arena pages). -duration is the measured time over
all rounds (default 6s).`
