package main

import (
	"fmt"
	"os"
)

// A transport moves messages between this process and its peer. Each lives
// in one small file (t_*.go) and registers itself in transports.
type transport interface {
	// open runs in the parent: it makes what the two sides share and
	// returns the parent's end and the files the peer inherits (they become
	// its fds 3, 4, … in order).
	open(c *config) (end, []*os.File, error)
	// serve runs in the peer, pinned, over the inherited files: it echoes
	// (latency) or drains (throughput) until the parent says stop.
	serve(c *config, files []*os.File) error
}

// An end is the parent's side of a transport.
type end interface {
	// roundTrip sends a message carrying seq and waits for its echo; an
	// echo with another seq is an error. It gives up after the config's
	// timeout.
	roundTrip(seq uint64) error
	// stream sends n messages, batch at a time, one way, and returns when
	// the peer has confirmed it received all n, in order.
	stream(n, batch int) error
	// stop tells the peer to exit, and releases the end.
	stop() error
}

var transports = map[string]transport{}

func register(name string, t transport) {
	if _, dup := transports[name]; dup {
		panic("pingpong: transport registered twice: " + name)
	}
	transports[name] = t
}

// stopSeq, sent as a round trip's seq, tells a peer to exit after echoing.
const stopSeq = ^uint64(0)

// errNotSupported marks a mode a transport does not offer.
type errNotSupported struct{ transport, mode string }

func (e errNotSupported) Error() string {
	return fmt.Sprintf("transport %s has no %s mode", e.transport, e.mode)
}
