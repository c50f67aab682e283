package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/spinwire/spinwire/agent"
	"github.com/spinwire/spinwire/link"
)

// serveConfig is the server's command line.
type serveConfig struct {
	name, dir string
	cpu       string // auto, none or CPU numbers
	pollers   int
	maxConns  int
	every     time.Duration // report interval
	duration  time.Duration // 0: until Ctrl-C
	procs     int
	dedicated bool
	exchange  bool // accepted orders are acknowledged later, by the exchange goroutine
}

func nameFlags(fs *flag.FlagSet, name, dir *string, procs *int) {
	fs.StringVar(name, "name", "spinwire-gateway", "service name")
	fs.StringVar(dir, "dir", "", "socket directory (default: link.Dir(), $XDG_RUNTIME_DIR/spinwire or /dev/shm/spinwire-UID)")
	fs.IntVar(procs, "procs", 0, "GOMAXPROCS (default: max(CPUs, spinners+2))")
}

func parseServe(args []string, stderr io.Writer) (serveConfig, error) {
	var c serveConfig
	fs := flag.NewFlagSet("gateway serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	nameFlags(fs, &c.name, &c.dir, &c.procs)
	fs.StringVar(&c.cpu, "cpu", "auto", "CPUs to pin the pollers to: auto (affinity.Plan), none, or a list (2,3)")
	fs.IntVar(&c.pollers, "pollers", 1, "spinning poller threads")
	fs.IntVar(&c.maxConns, "maxconns", 1024, "most client connections")
	fs.DurationVar(&c.every, "every", time.Second, "how often to print the order counts (when they change)")
	fs.DurationVar(&c.duration, "duration", 0, "stop after this long (0: at Ctrl-C)")
	fs.BoolVar(&c.dedicated, "dedicated", false, "run the pollers as agent.Dedicated agents (needs GODEBUG=asyncpreemptoff=1)")
	fs.BoolVar(&c.exchange, "exchange", false, "forward accepted orders to a simulated exchange goroutine, which acknowledges them later (link Caller.Defer, Server.Reply)")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	switch {
	case fs.NArg() > 0:
		return c, fmt.Errorf("%w: unexpected arguments %q", errUsage, fs.Args())
	case c.pollers < 1 || c.maxConns < 1 || c.every <= 0 || c.duration < 0:
		return c, fmt.Errorf("%w: want -pollers ≥ 1, -maxconns ≥ 1, -every > 0, -duration ≥ 0", errUsage)
	}
	return c, nil
}

// firstOfProcess returns an OnConnect that prints the pid and uid of each
// client process at its first connection (link checked them with
// SO_PEERCRED), not one line per connection.
func firstOfProcess(w io.Writer) func(link.ConnInfo) {
	var mu sync.Mutex
	seen := map[int32]bool{}
	return func(i link.ConnInfo) {
		mu.Lock()
		defer mu.Unlock()
		if !seen[i.PID] {
			seen[i.PID] = true
			fmt.Fprintf(w, "gateway: client process %d (uid %d) connected\n", i.PID, i.UID)
		}
	}
}

// serveResult is what a server run did.
type serveResult struct {
	Counts    [numStatus]uint64 // acks sent, by status
	Fills     uint64            // fills pushed
	FillsLost uint64            // fills not pushed: the client was behind, or gone
	Stats     link.ServerStats  // connections, as link counts them
}

// serve listens, answers orders until ctx ends (Ctrl-C) or cfg.duration
// passes, then shuts down: link's Close stops the pollers, closes every
// connection (a client's calls in flight end with link.ErrPeerGone: none is
// silently dropped) and removes the socket.
func serve(ctx context.Context, cfg serveConfig, stdout, stderr io.Writer) (*serveResult, error) {
	procs := tuneRuntime(cfg.pollers, cfg.procs)
	cpus, err := chooseCPUs(cfg.cpu, cfg.pollers, stderr)
	if err != nil {
		return nil, err
	}
	opts := link.Options{Dir: cfg.dir, Pollers: cfg.pollers, CPUs: cpus, MaxConns: cfg.maxConns, Logf: logTo(stderr),
		OnConnect: firstOfProcess(stdout)}
	if cfg.dedicated {
		opts.Mode = agent.Dedicated
	}
	s, err := link.ListenPush[Order, Ack, Fill](cfg.name, opts)
	if err != nil {
		return nil, err
	}
	g := gateway{srv: s}
	errc := make(chan error, 1)
	if cfg.exchange {
		g.exch = make(chan forwarded, exchangeQueue)
		go g.runExchange()
		defer close(g.exch)
		go func() { errc <- s.ServeCaller(g.forward) }()
	} else {
		go func() { errc <- s.ServeCaller(g.handleFill) }()
	}
	fmt.Fprintf(stdout, "gateway: serving %q (Order %d B, Ack %d B); %d poller(s) on %s; GOMAXPROCS %d; Ctrl-C stops\n",
		cfg.name, OrderLength, AckLength, cfg.pollers, cpuList(cpus), procs)

	var timeout <-chan time.Time
	if cfg.duration > 0 {
		t := time.NewTimer(cfg.duration)
		defer t.Stop()
		timeout = t.C
	}
	report := time.NewTicker(cfg.every)
	defer report.Stop()
	start, last := time.Now(), uint64(0)
	for running := true; running; {
		select {
		case <-ctx.Done():
			running = false
		case <-timeout:
			running = false
		case err := <-errc: // a poller failed (a refused Dedicated mode, a panic in the handler)
			s.Close()
			return nil, err
		case <-report.C:
			if res := g.result(); res.total() != last {
				fmt.Fprintf(stdout, "gateway: %5.1fs  %d orders: %s; %d connections\n",
					time.Since(start).Seconds(), res.total(), res.breakdown(), s.Stats().Conns)
				last = res.total()
			}
		}
	}

	res := g.result()
	res.Stats = s.Stats()
	s.Close()
	if err := <-errc; err != nil {
		return nil, err
	}
	fmt.Fprintf(stdout, "gateway: stopped after %.1f s: %d orders: %s; %d fills pushed, %d lost; connections: %d accepted, %d refused, %d dropped for corrupting their rings\n",
		time.Since(start).Seconds(), res.total(), res.breakdown(), res.Fills, res.FillsLost, res.Stats.Accepted, res.Stats.Refused, res.Stats.Dropped)
	return res, nil
}

func (g *gateway) result() *serveResult {
	var r serveResult
	for i := range r.Counts {
		r.Counts[i] = g.counts[i].Load()
	}
	r.Fills, r.FillsLost = g.fills.Load(), g.dropped.Load()
	return &r
}

func (r *serveResult) total() uint64 {
	var n uint64
	for _, c := range r.Counts {
		n += c
	}
	return n
}

// breakdown says "N accepted, M rejected (side a, qty b, …)".
func (r *serveResult) breakdown() string {
	return countsString(&r.Counts)
}

func countsString(c *[numStatus]uint64) string {
	var rejected uint64
	var why []string
	for st := RejectReserved; st < numStatus; st++ {
		if c[st] > 0 {
			rejected += c[st]
			why = append(why, fmt.Sprintf("%s %d", st, c[st]))
		}
	}
	s := fmt.Sprintf("%d accepted, %d rejected", c[StatusAccepted], rejected)
	if len(why) > 0 {
		s += " (" + strings.Join(why, ", ") + ")"
	}
	return s
}

func cpuList(cpus []int) string {
	if len(cpus) == 0 {
		return "no pinned CPU"
	}
	return "cpu " + strings.Trim(strings.Join(strings.Fields(fmt.Sprint(cpus)), ","), "[]")
}
