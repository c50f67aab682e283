// Command bridge shows topics and a service carried between two hosts
// over NATS (package bridge), on one machine:
//
//	bridge demo [-n 100000] [-calls 1000] [-nats nats://host:4222]
//
// "Host A" and "host B" are two spinwire directories; a NATS server
// embedded in the demo joins them (or the one -nats names). On host A a
// publisher feeds a topic that a local subscriber reads and an exporter
// sends to NATS; on host B an importer publishes it into a topic of its
// own, which host B's subscriber reads. Host A also runs an order gateway
// on link, exported on a subject, and host B calls it with bridge.Dial —
// a link connection where the service is local, NATS where it is not.
// The demo prints what each side received and the calls' latency.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// Tick is the topic's message: 32 bytes.
type Tick struct {
	Seq   uint64
	Price int64
	Qty   uint32
	_     [12]byte
}

// Order and Ack are the gateway's request and response.
type Order struct {
	ID  uint64
	Qty int64
}

type Ack struct {
	ID       uint64
	Accepted uint32
	_        [4]byte
}

type config struct {
	n, calls int
	url      string
}

func main() {
	if len(os.Args) < 2 || os.Args[1] != "demo" {
		fmt.Fprintln(os.Stderr, "usage: bridge demo [-n 100000] [-calls 1000] [-nats URL]")
		os.Exit(2)
	}
	var c config
	fs := flag.NewFlagSet("bridge demo", flag.ExitOnError)
	fs.IntVar(&c.n, "n", 100_000, "ticks to publish on host A")
	fs.IntVar(&c.calls, "calls", 1000, "orders host B sends to host A's gateway")
	fs.StringVar(&c.url, "nats", "", "NATS server URL (default: an embedded one)")
	fs.Parse(os.Args[2:])
	if err := demo(c, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "bridge:", err)
		os.Exit(1)
	}
}

// embedded starts a NATS server on a free loopback port.
func embedded() (*server.Server, error) {
	s, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true})
	if err != nil {
		return nil, err
	}
	go s.Start()
	if !s.ReadyForConnections(5 * time.Second) {
		return nil, errors.New("embedded NATS server not ready")
	}
	return s, nil
}

// host is one side of the demo: its directory and NATS connection.
type host struct {
	dir string
	nc  *nats.Conn
}

func newHost(url string) (*host, error) {
	dir, err := os.MkdirTemp("", "spinwire-bridge-demo")
	if err != nil {
		return nil, err
	}
	nc, err := nats.Connect(url)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return &host{dir, nc}, nil
}

func (h *host) close() { h.nc.Close(); os.RemoveAll(h.dir) }
