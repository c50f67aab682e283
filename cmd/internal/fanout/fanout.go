package fanout

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/spinwire/spinwire/affinity"
	"github.com/spinwire/spinwire/asm"
	"github.com/spinwire/spinwire/topic"
)

// Msg is the benchmark's message: 56 bytes, 64 in a slot with its
// sequence word.
type Msg struct {
	Seq   uint64
	Stamp int64  // asm.Ticks at publish; 0 in the stream phase
	Timer uint64 // stamped: the subscription that times it, Seq mod the subscriptions
	Body  [4]uint64
}

// slots is the capacity of the topic and of the baseline's ring.
const slots = 1024

// stopSeq marks the last message.
const stopSeq = ^uint64(0)

// Config is one run.
type Config struct {
	Subs, Procs int
	Policy      topic.Policy
	N           int           // stream phase: messages published flat out
	Paced       int           // latency phase: messages, one every Gap
	Gap         time.Duration // between paced messages
	CPUs        [2]int        // the publisher's, the subscribers'
	Dir         string        // the topic directory
	Timeout     time.Duration // for the children to report
}

// Result is one run's figures, over every subscription.
type Result struct {
	MsgsPerSec float64 // the publisher's rate in the stream phase
	Received   uint64  // messages received, both phases, every subscription
	Lost       uint64
	Hist       *hdrhistogram.Histogram // publish → receive, ns: each paced message once, at one subscription
}

// report is what a child prints at the end.
type report struct {
	Received, Lost uint64
	Hist           *hdrhistogram.Snapshot
}

// NewHist is the latency histogram: 1 ns to 10 s, 3 digits.
func NewHist() *hdrhistogram.Histogram { return hdrhistogram.New(1, int64(10*time.Second), 3) }

// Run runs the topic benchmark. Under Reliable, every subscription
// receiving fewer or more than every message is an error.
func Run(cfg Config) (*Result, error) {
	p, err := topic.Create[Msg]("fanout", topic.Options{Dir: cfg.Dir, Capacity: slots, Policy: cfg.Policy, StallTimeout: cfg.Timeout})
	if err != nil {
		return nil, err
	}
	defer p.Close()
	kids, err := startChildren(cfg, "topic")
	if err != nil {
		return nil, err
	}
	defer stopChildren(kids)
	for deadline := time.Now().Add(cfg.Timeout); p.Stats().Subscribers < cfg.Subs; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("%d of %d subscriptions seen by the publisher", p.Stats().Subscribers, cfg.Subs)
		}
	}
	res := &Result{Hist: NewHist()}
	err = onCPU(cfg.CPUs[0], func() error {
		res.MsgsPerSec = publish(cfg, p.Publish)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if err := collect(kids, res, cfg.Timeout); err != nil {
		return nil, err
	}
	if want := uint64(cfg.Subs * (cfg.N + cfg.Paced)); cfg.Policy == topic.Reliable && res.Received != want {
		return nil, fmt.Errorf("reliable: %d messages received over the subscriptions, want %d", res.Received, want)
	}
	return res, nil
}

// publish runs both phases through send and returns the stream phase's
// rate.
func publish(cfg Config, send func(*Msg) error) float64 {
	var m Msg
	t0 := time.Now()
	for i := range cfg.N {
		m.Seq = uint64(i)
		send(&m)
	}
	rate := float64(cfg.N) / time.Since(t0).Seconds()
	gap := uint64(cfg.Gap.Seconds() * asm.TicksPerSecond())
	next := asm.Ticks()
	for i := range cfg.Paced {
		next = paceTo(next, gap)
		m.Seq, m.Timer = uint64(cfg.N+i), uint64(cfg.N+i)%uint64(cfg.Subs)
		m.Stamp = int64(asm.Ticks())
		send(&m)
		next += gap
	}
	m.Seq, m.Stamp = stopSeq, 0
	send(&m)
	return rate
}

// paceTo spins until the time-stamp counter reaches next and returns
// where it stopped. A counter that went back (a guest whose TSC the
// hypervisor moved: Linux may mark it unstable) would leave next ever
// ahead: when next is more than one gap away it starts again from now.
func paceTo(next, gap uint64) uint64 {
	for {
		now := asm.Ticks()
		if now >= next {
			return next
		}
		if next-now > gap {
			return now
		}
	}
}

// onCPU runs fn on a goroutine locked and pinned to cpu.
func onCPU(cpu int, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		undo, err := affinity.Pin(cpu)
		if err != nil {
			errc <- err
			return
		}
		defer undo()
		errc <- fn()
	}()
	return <-errc
}

// child is a running subscriber process.
type child struct {
	cmd *exec.Cmd
	out *bufio.Reader
}

// startChildren starts cfg.Procs children of kind ("topic" or "ring")
// holding cfg.Subs subscriptions between them, and waits for each READY.
func startChildren(cfg Config, kind string) ([]child, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	var kids []child
	first := 0
	for i := range cfg.Procs {
		subs := cfg.Subs / cfg.Procs
		if i < cfg.Subs%cfg.Procs {
			subs++
		}
		cmd := exec.Command(self)
		spec := fmt.Sprintf("%s %d %d %d %d %s", kind, subs, cfg.CPUs[1], first, cfg.Procs, cfg.Dir)
		first += subs
		cmd.Env = append(os.Environ(), childEnv+"="+spec)
		cmd.Stderr = os.Stderr
		out, _ := cmd.StdoutPipe()
		if err := cmd.Start(); err != nil {
			stopChildren(kids)
			return nil, err
		}
		kids = append(kids, child{cmd, bufio.NewReader(out)})
		if l, err := kids[i].out.ReadString('\n'); err != nil || l != "READY\n" {
			stopChildren(kids)
			return nil, fmt.Errorf("subscriber process %d said %q (%v)", i, l, err)
		}
	}
	return kids, nil
}

// collect reads every child's report into res.
func collect(kids []child, res *Result, timeout time.Duration) error {
	for i, k := range kids {
		got := make(chan error, 1)
		go func() {
			var r report
			err := json.NewDecoder(k.out).Decode(&r)
			if err == nil {
				res.Received += r.Received
				res.Lost += r.Lost
				res.Hist.Merge(hdrhistogram.Import(r.Hist))
			}
			got <- err
		}()
		select {
		case err := <-got:
			if err != nil {
				return fmt.Errorf("subscriber process %d: %w", i, err)
			}
		case <-time.After(timeout):
			return fmt.Errorf("subscriber process %d did not report within %v", i, timeout)
		}
	}
	return nil
}

func stopChildren(kids []child) {
	for _, k := range kids {
		k.cmd.Process.Kill()
		k.cmd.Wait()
	}
}
