// Command fanout shows one publisher and several subscriber processes of
// a topic (package topic), one of them slow, under either policy:
//
//	fanout demo [-subs 3] [-policy lossy|reliable] [-n 300000]
//
// The demo creates the topic, re-executes this program once per
// subscriber, publishes -n ticks and a last one that ends the run, and
// prints what each subscriber received. Under lossy the slow subscriber
// is lapped and counts what it lost while the others keep up; under
// reliable the publisher goes at the slow subscriber's pace and everyone
// receives everything (a subscriber that stopped moving for StallTimeout
// would be evicted and told so).
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"time"

	"github.com/spinwire/spinwire/topic"
)

// Tick is the message: fixed layout, 32 bytes.
type Tick struct {
	Seq   uint64
	Price int64
	Qty   int64
	Side  int64
}

// last marks the message that ends the run.
const last = ^uint64(0)

const subEnv = "FANOUT_SUBSCRIBER" // "dir index slow" in a subscriber process

func main() {
	if spec := os.Getenv(subEnv); spec != "" {
		os.Exit(subscriber(spec, os.Stdout))
	}
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "fanout:", err)
		os.Exit(1)
	}
}

func run(args []string, w io.Writer) error {
	if len(args) == 0 || args[0] != "demo" {
		return fmt.Errorf("usage: fanout demo [-subs 3] [-policy lossy|reliable] [-n 300000]")
	}
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	subs := fs.Int("subs", 3, "subscriber processes (the last one is slow)")
	policy := fs.String("policy", "lossy", "lossy or reliable")
	n := fs.Int("n", 300_000, "ticks to publish")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	pol := topic.Lossy
	if *policy == "reliable" {
		pol = topic.Reliable
	}
	dir, err := os.MkdirTemp("", "fanout")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	pub, err := topic.Create[Tick]("ticks", topic.Options{Dir: dir, Capacity: 1024, Policy: pol, StallTimeout: 2 * time.Second})
	if err != nil {
		return err
	}
	defer pub.Close()
	outs, err := startSubscribers(dir, *subs)
	if err != nil {
		return err
	}
	start := time.Now()
	for i := range *n {
		pub.Publish(&Tick{Seq: uint64(i), Price: 100 + int64(i%7), Qty: 1})
		if i%1000 == 999 {
			time.Sleep(50 * time.Microsecond) // a market's pace, not a benchmark's
		}
	}
	pub.Publish(&Tick{Seq: last})
	fmt.Fprintf(w, "published %d ticks (%s) in %v; evicted %d subscriber(s)\n", *n, pol, time.Since(start).Round(time.Millisecond), pub.Stats().Evicted)
	for _, o := range outs {
		l, err := o.ReadString('\n')
		if err != nil {
			return err
		}
		fmt.Fprint(w, l)
	}
	return nil
}

// startSubscribers starts n subscriber processes (the last slow) and waits
// for each to say it subscribed.
func startSubscribers(dir string, n int) ([]*bufio.Reader, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	var outs []*bufio.Reader
	for i := range n {
		cmd := exec.Command(self)
		cmd.Env = append(os.Environ(), subEnv+"="+dir+" "+strconv.Itoa(i)+" "+strconv.FormatBool(i == n-1 && n > 1))
		cmd.Stderr = os.Stderr
		out, _ := cmd.StdoutPipe()
		if err := cmd.Start(); err != nil {
			return nil, err
		}
		r := bufio.NewReader(out)
		if l, err := r.ReadString('\n'); err != nil || l != "subscribed\n" {
			return nil, fmt.Errorf("subscriber %d: %q %v", i, l, err)
		}
		outs = append(outs, r)
	}
	return outs, nil
}

// subscriber reads ticks until the last one, or its eviction, and prints
// what it got; a slow one dawdles over every 100th tick.
func subscriber(spec string, w io.Writer) int {
	var dir string
	var idx int
	var slow bool
	if _, err := fmt.Sscanf(spec, "%s %d %t", &dir, &idx, &slow); err != nil {
		return 1
	}
	s, err := topic.Subscribe[Tick]("ticks", topic.SubscribeOptions{Dir: dir, Wait: 5 * time.Second})
	if err != nil {
		fmt.Fprintln(w, "subscribe:", err)
		return 1
	}
	defer s.Close()
	fmt.Fprintln(w, "subscribed")
	kind := "fast"
	if slow {
		kind = "slow"
	}
	var got uint64
	done := false
	for deadline := time.Now().Add(time.Minute); !done && time.Now().Before(deadline); {
		_, err := s.Poll(func(t *Tick) {
			if t.Seq == last {
				done = true
				return
			}
			if got++; slow && got%100 == 0 {
				time.Sleep(100 * time.Microsecond)
			}
		}, 0)
		if err != nil {
			fmt.Fprintf(w, "subscriber %d (%s): received %d, lost %d, then %v\n", idx, kind, got, s.Lost(), err)
			return 0
		}
	}
	fmt.Fprintf(w, "subscriber %d (%s): received %d, lost %d\n", idx, kind, got, s.Lost())
	return 0
}
