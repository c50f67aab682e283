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
	// (latency, rate) or drains (throughput) until the parent says stop.
	serve(c *config, files []*os.File) error
	// options describes how the transport carries a -size message and how
	// each side waits, for the report.
	options(c *config) options
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

// A rateEnd can keep several messages in flight: rate mode needs one.
// Transports are FIFO, so an echo of seq also means every earlier seq has
// come back; counter transports (raw, eventfd, futex) coalesce echoes that
// way.
type rateEnd interface {
	end
	// trySend sends the message carrying seq if the transport can take it
	// now, without waiting; false means full (the caller retries, and the
	// wait counts against the message, whose latency runs from when it was
	// due).
	trySend(seq uint64) (bool, error)
	// tryRecv returns, without waiting, the newest seq whose echo has
	// arrived, and false if none arrived since the last call.
	tryRecv() (uint64, bool, error)
	// window is the most messages that may be in flight at once.
	window() int
}

// An aborter can wake its own blocked roundTrip with an error; runRound
// calls abort from another goroutine when the peer dies or stops
// answering, for transports whose blocking wait has no end of its own
// (an eventfd or futex has no EOF).
type aborter interface{ abort() }

// A netpollEnd runs on an ordinary goroutine, not a pinned agent: its
// process is confined to its CPU instead (uds-net).
type netpollEnd interface{ netpoll() }

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
	return fmt.Sprintf("transport %s has no %s mode%s", e.transport, e.mode, notSupportedWhy[e.transport+"/"+e.mode])
}

// notSupportedWhy says why, for the note a run prints.
var notSupportedWhy = map[string]string{
	"raw/throughput":     ": two words carry no stream of messages",
	"eventfd/throughput": ": an eventfd is a counter, not a stream of messages",
	"futex/throughput":   ": a futex word is a counter, not a stream of messages",
	"uds-net/rate":       ": a Go sender would wait on timers of about 1 ms or spin on the CPU its netpoller needs (rate mode on uds uses the same socket)",
}
