// Package connbench is the request/response benchmark behind
// `pingpong -mode conns`: one server process, one client process driving N
// link connections from a single pinned thread, closed loop (one call in
// flight per connection) or pipelined (K in flight).
package connbench

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/spinwire/spinwire/asm"
	"github.com/spinwire/spinwire/link"
	"github.com/spinwire/spinwire/spin"
)

// Msg is the request and the response: 48 bytes, so a slot with its id and
// sequence words is one 64-byte line.
type Msg struct {
	Seq   uint64    // the client's request number on this connection
	Stamp uint64    // asm.Ticks when the request was sent
	Body  [4]uint64 // payload, echoed
}

// Resp is the response type: Msg's layout under its own name.
type Resp Msg

// echo is the server's handler.
func echo(q *Msg, r *Resp) { *r = Resp(*q) }

// ServerConfig configures Serve.
type ServerConfig struct {
	Name     string
	Dir      string
	MaxConns int
	Depth    int
	Pollers  int
	CPUs     []int
	Mode     spin.Mode
}

// Serve listens on cfg.Name, calls ready once it accepts connections, and
// serves until ctx ends.
func Serve(ctx context.Context, cfg ServerConfig, ready func()) error {
	s, err := link.Listen[Msg, Resp](cfg.Name, link.Options{Dir: cfg.Dir, MaxConns: cfg.MaxConns, Depth: cfg.Depth,
		Pollers: cfg.Pollers, CPUs: cfg.CPUs, Mode: cfg.Mode})
	if err != nil {
		return err
	}
	errc := make(chan error, 1)
	go func() { errc <- s.Serve(echo) }()
	ready()
	select {
	case <-ctx.Done():
		s.Close()
		return <-errc
	case err := <-errc:
		s.Close()
		return err
	}
}

// ClientConfig configures Run.
type ClientConfig struct {
	Name     string
	Dir      string
	Conns    int // connections to open
	Pipeline int // requests in flight per connection (1: closed loop)
	// Rotate keeps one request in flight in all, sent to each connection in
	// turn: every connection attached, one active at a time — the latency
	// of a call with Conns attached, without the queueing of Conns calls in
	// flight (by Little's law, 1000 calls in flight at 5 M/s wait 200 µs).
	Rotate bool
	// Active, if > 0, sends requests on the first Active connections only;
	// the others stay attached and idle.
	Active   int
	Warmup   time.Duration // discarded
	Duration time.Duration // measured
	CPU      int           // the driving thread's CPU (-1: not pinned)
	Mode     spin.Mode
	Timeout  time.Duration // a response later than this fails the run
	// Attached, if set, is called with every connection open, before the
	// load starts (pingpong reads the server's memory there).
	Attached func()
}

// Result is one run's outcome.
type Result struct {
	Conns, Pipeline int
	Requests        uint64  // measured responses
	Seconds         float64 // measured time
	PerSec          float64
	Hist            *Hist // latency from send to response, ns
	DialSeconds     float64
}

// Run opens cfg.Conns connections and drives them from one pinned agent.
func Run(cfg ClientConfig) (*Result, error) {
	if cfg.Conns < 1 || cfg.Pipeline < 1 {
		return nil, fmt.Errorf("connbench: conns %d, pipeline %d", cfg.Conns, cfg.Pipeline)
	}
	t0 := time.Now()
	conns := make([]*link.Conn[Msg, Resp], cfg.Conns)
	defer func() {
		for _, c := range conns {
			if c != nil {
				c.Close()
			}
		}
	}()
	for i := range conns {
		c, err := link.Dial[Msg, Resp](cfg.Name, link.DialOptions{Dir: cfg.Dir})
		if err != nil {
			return nil, fmt.Errorf("dial %d of %d: %w", i+1, cfg.Conns, err)
		}
		conns[i] = c
	}
	res := &Result{Conns: cfg.Conns, Pipeline: cfg.Pipeline, Hist: NewHist(), DialSeconds: time.Since(t0).Seconds()}
	if cfg.Attached != nil {
		cfg.Attached()
	}
	tps := asm.TicksPerSecond()
	var (
		inflight  = make([]int, len(conns))
		sent      = make([]uint64, len(conns))
		next      = make([]uint64, len(conns))
		warmEnd   = asm.Ticks() + uint64(cfg.Warmup.Seconds()*tps)
		end       = warmEnd + uint64(cfg.Duration.Seconds()*tps)
		limit     = uint64(cfg.Timeout.Seconds() * tps)
		measuring bool
		start     uint64
		failure   error
		msg       Msg
		now       uint64
		cur       int
	)
	record := func(id uint64, r *Resp) {
		if r.Seq != next[cur] {
			failure = fmt.Errorf("connection %d: response %d carries seq %d", cur, next[cur], r.Seq)
		}
		next[cur]++
		inflight[cur]--
		if measuring {
			res.Requests++
			res.Hist.Record(asm.TicksToNanos(now - r.Stamp))
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	lastProgress := asm.Ticks()
	active := len(conns)
	if cfg.Active > 0 {
		active = min(cfg.Active, len(conns))
	}
	duty := func() int {
		now = asm.Ticks()
		if !measuring && now >= warmEnd {
			measuring, start = true, now
		}
		if now >= end || failure != nil {
			res.Seconds = asm.TicksToNanos(now-start) / 1e9
			cancel()
			return 0
		}
		work := 0
		if cfg.Rotate {
			c := conns[cur]
			n, err := c.Poll(0, record)
			next := func() int { return (cur + 1) % active }
			if err != nil && failure == nil {
				failure = fmt.Errorf("connection %d: %w", cur, err)
			}
			if n > 0 || sent[cur] == 0 {
				if n > 0 {
					cur = next()
					lastProgress = now
				}
				msg.Seq, msg.Stamp = sent[cur], asm.Ticks()
				if _, err := conns[cur].Send(&msg); err == nil {
					sent[cur]++
					inflight[cur]++
				}
			} else if now-lastProgress > limit && failure == nil {
				failure = fmt.Errorf("no response for %v", cfg.Timeout)
			}
			return n
		}
		for i, c := range conns[:active] {
			cur = i
			n, err := c.Poll(0, record)
			if err != nil && failure == nil {
				failure = fmt.Errorf("connection %d: %w", i, err)
			}
			work += n
			for inflight[i] < cfg.Pipeline {
				msg.Seq, msg.Stamp = sent[i], now
				if _, err := c.Send(&msg); err != nil {
					break
				}
				sent[i]++
				inflight[i]++
			}
		}
		if work > 0 {
			lastProgress = now
		} else if now-lastProgress > limit && failure == nil {
			failure = fmt.Errorf("no response for %v", cfg.Timeout)
		}
		return work
	}
	// The agent pins its thread for good: run it on a goroutine of its own,
	// whose thread exits with it (a pinned caller's thread would pass its
	// mask on to every process it starts later).
	a := &spin.Agent{Name: "connbench client", Mode: cfg.Mode, Logf: func(string, ...any) {}}
	errc := make(chan error, 1)
	go func() { errc <- a.Run(ctx, cfg.CPU, spin.BusySpin{}, duty) }()
	if err := <-errc; err != nil {
		return nil, err
	}
	if failure != nil {
		return nil, failure
	}
	if res.Seconds > 0 {
		res.PerSec = float64(res.Requests) / res.Seconds
	}
	return res, nil
}

// Memory is a process's memory as /proc/PID/status reports it, in KiB.
type Memory struct {
	VmRSS, RssAnon, RssFile, RssShmem int64
}

// ReadMemory reads pid's memory figures.
func ReadMemory(pid int) (Memory, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return Memory{}, err
	}
	var m Memory
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		switch k {
		case "VmRSS":
			m.VmRSS = n
		case "RssAnon":
			m.RssAnon = n
		case "RssFile":
			m.RssFile = n
		case "RssShmem":
			m.RssShmem = n
		}
	}
	return m, nil
}

// ServerMain is the server process of the conns benchmark: cmd/linkecho's
// main, and pingpong's when it re-executes itself as the server. Flags:
// -name (required), -dir, -cpus (poller i pins to the i-th), -maxconns,
// -depth, -dedicated. It prints "READY" once it accepts connections and
// returns (the exit status) when stdin closes.
func ServerMain(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("linkecho", flag.ContinueOnError)
	fs.SetOutput(stderr)
	name := fs.String("name", "", "the server's name (required)")
	dir := fs.String("dir", "", "socket directory (default: link.Dir())")
	cpus := fs.String("cpus", "", "comma list: poller i pins to the i-th CPU")
	maxConns := fs.Int("maxconns", 4096, "connections")
	depth := fs.Int("depth", 4, "slots per ring")
	dedicated := fs.Bool("dedicated", false, "run the pollers as dedicated agents (needs GODEBUG=asyncpreemptoff=1)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *name == "" {
		io.WriteString(stderr, "linkecho: -name is required\n")
		return 2
	}
	cfg := ServerConfig{Name: *name, Dir: *dir, MaxConns: *maxConns, Depth: *depth, Pollers: 1}
	if *cpus != "" {
		for _, s := range strings.Split(*cpus, ",") {
			n, err := strconv.Atoi(s)
			if err != nil {
				io.WriteString(stderr, "linkecho: -cpus: "+err.Error()+"\n")
				return 2
			}
			cfg.CPUs = append(cfg.CPUs, n)
		}
		cfg.Pollers = len(cfg.CPUs)
	}
	if *dedicated {
		cfg.Mode = spin.Dedicated
	}
	// The runtime rules for a spinning process: GOMAXPROCS explicit, GC
	// off — the steady state allocates nothing — with a limit as a guard.
	// (Measured: with the GC on, the server's RSS is larger, not smaller:
	// its metadata costs more than the set-up garbage it would free.)
	runtime.GOMAXPROCS(cfg.Pollers + 2)
	debug.SetGCPercent(-1)
	debug.SetMemoryLimit(64 << 20)
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		io.Copy(io.Discard, stdin)
		cancel()
	}()
	if err := Serve(ctx, cfg, func() { io.WriteString(stdout, "READY\n") }); err != nil {
		io.WriteString(stderr, "linkecho: "+err.Error()+"\n")
		return 1
	}
	return 0
}
