package connbench

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/spinwire/spinwire/agent"
	"github.com/spinwire/spinwire/cmd/internal/echo"
	"github.com/spinwire/spinwire/link"
	"github.com/spinwire/spinwire/spin"
)

// Msg and Resp are the request and response types: the server's (echo).
type (
	Msg  = echo.Msg
	Resp = echo.Resp
)

// ClientConfig configures Run.
type ClientConfig struct {
	Name  string
	Dir   string
	Conns int // connections to open
	// Procs, if > 1, spreads Conns over Procs client processes: this one
	// drives its share (Conns/Procs, and the remainder), Procs-1 holders
	// keep theirs attached and idle (see HoldIfAsked). Requires the binary
	// to call HoldIfAsked first thing.
	Procs    int
	Pipeline int // requests in flight per connection (1: closed loop)
	// Rotate keeps one request in flight in all, sent to each connection in
	// turn: every connection attached, one active at a time — the latency
	// of a call with Conns attached, without the queueing of Conns calls in
	// flight (by Little's law, 1000 calls in flight at 5 M/s wait 200 µs).
	Rotate bool
	// Active, if > 0, sends requests on the first Active connections only;
	// the others stay attached and idle.
	Active int
	// Push dials every connection with link.DialPush (the server must
	// push: echo's Config.Push) and takes the pushes that come with the
	// responses: their one-way latency goes to Result.PushHist.
	Push     bool
	Warmup   time.Duration // discarded
	Duration time.Duration // measured
	CPU      int           // the driving thread's CPU (-1: not pinned)
	Mode     agent.Mode
	Timeout  time.Duration // a response later than this fails the run
	// Attached, if set, is called with every connection open, before the
	// load starts (pingpong reads the server's memory there).
	Attached func()
	// Finished, if set, is called when the load has ended, every
	// connection still open (pingpong reads the server's memory there too).
	Finished func()
}

// Result is one run's outcome.
type Result struct {
	Conns, Pipeline int
	Requests        uint64  // measured responses
	Seconds         float64 // measured time
	PerSec          float64
	// Hist holds the latency from send to response of every measured
	// request, in nanoseconds (NewHist).
	Hist        *hdrhistogram.Histogram
	DialSeconds float64
	// With ClientConfig.Push: the pushes taken while measuring, and their
	// latency from the server's push to the client's Drain, in ns.
	Pushes   uint64
	PushHist *hdrhistogram.Histogram
}

// MaxLatency is the largest latency Hist holds, in nanoseconds; a longer
// one is recorded as this.
const MaxLatency = int64(10 * time.Second)

// NewHist returns an empty latency histogram: HdrHistogram, 1 ns to
// MaxLatency, three significant digits.
func NewHist() *hdrhistogram.Histogram { return hdrhistogram.New(1, MaxLatency, 3) }

// record adds one latency in nanoseconds to h. The clamp keeps RecordValue
// off its error path, which would allocate the error.
func record(h *hdrhistogram.Histogram, ns float64) {
	_ = h.RecordValue(min(max(int64(ns), 0), MaxLatency))
}

// Run opens cfg.Conns connections and drives them from one pinned agent
// (cfg.CPU, cfg.Mode) for cfg.Warmup, discarded, and cfg.Duration,
// measured. The first failure ends the run and is returned: a connection's
// error, a response out of sequence, no response for cfg.Timeout.
func Run(cfg ClientConfig) (*Result, error) {
	if cfg.Conns < 1 || cfg.Pipeline < 1 || cfg.Procs > cfg.Conns {
		return nil, fmt.Errorf("connbench: conns %d, pipeline %d, procs %d", cfg.Conns, cfg.Pipeline, cfg.Procs)
	}
	t0 := time.Now()
	share := cfg.Conns
	if cfg.Procs > 1 {
		share = cfg.Conns / cfg.Procs
		hs, err := startHolders(cfg, cfg.Procs, share, 30*time.Second)
		if err != nil {
			return nil, err
		}
		defer stopHolders(hs)
		share = cfg.Conns - (cfg.Procs-1)*share
	}
	conns := make([]*link.Conn[Msg, Resp], share)
	var pushes []*link.PushConn[Msg, Resp, Msg]
	if cfg.Push {
		pushes = make([]*link.PushConn[Msg, Resp, Msg], share)
	}
	defer func() {
		for _, c := range conns {
			if c != nil {
				c.Close()
			}
		}
	}()
	for i := range conns {
		var err error
		if cfg.Push {
			pushes[i], err = link.DialPush[Msg, Resp, Msg](cfg.Name, link.DialOptions{Dir: cfg.Dir})
			if err == nil {
				conns[i] = pushes[i].Conn
			}
		} else {
			conns[i], err = link.Dial[Msg, Resp](cfg.Name, link.DialOptions{Dir: cfg.Dir})
		}
		if err != nil {
			return nil, fmt.Errorf("dial %d of %d: %w", i+1, len(conns), err)
		}
	}
	res := &Result{Conns: cfg.Conns, Pipeline: cfg.Pipeline, Hist: NewHist(), DialSeconds: time.Since(t0).Seconds()}
	if cfg.Push {
		res.PushHist = NewHist()
	}
	if cfg.Attached != nil {
		cfg.Attached()
	}
	d := newDriver(cfg, conns, res)
	d.pushes = pushes
	err := d.run()
	if cfg.Finished != nil {
		cfg.Finished()
	}
	if err != nil {
		return nil, err
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
	for line := range strings.SplitSeq(string(b), "\n") {
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

// runAgent runs duty on a pinned agent until ctx ends. The agent pins its
// thread for good: it runs on a goroutine of its own, whose thread exits
// with it (a pinned caller's thread would pass its mask on to every
// process it starts later).
func runAgent(ctx context.Context, cfg ClientConfig, duty func() int) error {
	a := &agent.Agent{Name: "connbench client", Mode: cfg.Mode, Logf: func(string, ...any) {}}
	errc := make(chan error, 1)
	go func() { errc <- a.Run(ctx, cfg.CPU, spin.BusySpin{}, duty) }()
	return <-errc
}
