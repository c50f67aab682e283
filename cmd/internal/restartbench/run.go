package restartbench

import (
	"fmt"
	"math/rand/v2"
	"os/exec"
	"strings"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Config configures Run.
type Config struct {
	Name        string
	Dir         string
	Conns       int           // client connections in all
	Procs       int           // client processes (the connections are spread over them)
	Trials      int           // server kills
	ClientKills int           // client kills
	Think       time.Duration // pause between a connection's calls
	CallTimeout time.Duration // each call's deadline (default 1 s)
	Chaos       bool          // interleave server and client kills at random
	// Spawn starts this program in a child role: it must return a command
	// whose environment includes env (and os.Environ).
	Spawn func(env []string) *exec.Cmd
	Logf  func(format string, args ...any)
}

// Result is the JSON line of `pingpong -mode restart`. Times are in
// milliseconds, percentiles of HdrHistograms (3 significant digits).
//
// The call counts cover every call of every client process, those killed
// included: each client logs each call in shared memory before and after
// making it, and each server each request its handler runs, and the
// orchestrator reads the logs once their writers have exited or been
// killed (log.go). Every call is in exactly one of Answered, Failed,
// Interrupted, Lost, Duplicated and Wrong; for a correct library Lost,
// Duplicated, Wrong and UnmatchedExecutions are 0.
type Result struct {
	Mode                string  `json:"mode"`
	Conns               int     `json:"conns"`
	Trials              int     `json:"trials"`
	ReconnectP50Ms      float64 `json:"reconnect_p50_ms"`
	ReconnectP100Ms     float64 `json:"reconnect_p100_ms"`
	DetectP100Ms        float64 `json:"detect_p100_ms"`
	DetectP50Ms         float64 `json:"detect_p50_ms"`
	ClientReclaimP100Ms float64 `json:"client_reclaim_p100_ms"`
	ClientReclaimP50Ms  float64 `json:"client_reclaim_p50_ms"`

	// Calls counts the calls begun, by every client process.
	Calls uint64 `json:"calls"`
	// KilledClientCalls counts those of Calls made by client processes
	// that were later killed.
	KilledClientCalls uint64 `json:"killed_client_calls"`
	// Answered: a response whose content was checked correct (it echoes
	// the call's seq and sums its operands), for a call a server executed
	// once.
	Answered uint64 `json:"answered"`
	// Failed: Call returned an error, so the caller knows; split into
	// ErrPeerGone, ErrTimeout and any other error (ErrCorrupt, …). Such a
	// call may or may not have been executed: FailedExecuted counts those
	// a server did execute (the error then came after the request left).
	Failed         uint64 `json:"failed"`
	FailedPeerGone uint64 `json:"failed_peer_gone"`
	FailedTimeout  uint64 `json:"failed_timeout"`
	FailedOther    uint64 `json:"failed_other"`
	FailedExecuted uint64 `json:"failed_executed"`
	// Interrupted: in flight when its own client process was killed, begun
	// no longer before the kill than the call's deadline and 2 s of grace.
	Interrupted uint64 `json:"interrupted"`
	// Lost: begun, and its caller got neither a response nor an error —
	// still in flight when a stopped client gave up waiting (the deadline
	// and 2 s after the stop), or when a client was killed longer after
	// the call began than that.
	Lost uint64 `json:"lost"`
	// Duplicated: executed more than once, counted over every server
	// incarnation's log, whatever the caller saw.
	Duplicated uint64 `json:"duplicated"`
	// Wrong: a response with the wrong content, or a response to a call no
	// server executed.
	Wrong uint64 `json:"wrong"`
	// Executions counts the requests the servers' handlers ran;
	// UnmatchedExecutions those among them that name no call a client
	// began.
	Executions          uint64 `json:"executions"`
	UnmatchedExecutions uint64 `json:"unmatched_executions"`

	LeakedFDs  int `json:"leaked_fds"`
	LeakedMaps int `json:"leaked_maps"`
}

// Run runs the benchmark and returns its result: it starts the server and
// the clients, kills and restarts the server cfg.Trials times and a random
// client cfg.ClientKills times (in that order, or shuffled with Chaos),
// then stops the clients and the server and counts what they report and
// what their logs say. An error from a log (malformed, or full) fails the
// run: its calls could not all be accounted for.
func Run(cfg Config) (*Result, error) {
	if cfg.Conns < 1 || cfg.Conns > maxLogConns || cfg.Procs < 1 || cfg.Procs > cfg.Conns || cfg.Trials < 0 || cfg.ClientKills < 0 ||
		cfg.CallTimeout < 0 || cfg.Spawn == nil {
		return nil, fmt.Errorf("restartbench: conns %d, procs %d, trials %d, client kills %d", cfg.Conns, cfg.Procs, cfg.Trials, cfg.ClientKills)
	}
	b := newBench(cfg)
	defer b.killAll()
	if err := b.start(); err != nil {
		return nil, err
	}
	time.Sleep(100 * time.Millisecond)
	ts, ks := 0, 0
	for _, isServer := range b.events() {
		var err error
		if isServer {
			err = b.killServer(ts)
			ts++
		} else {
			err = b.killClient(ks)
			ks++
		}
		if err != nil {
			return nil, err
		}
		if cfg.Chaos {
			time.Sleep(time.Duration(rand.IntN(50)) * time.Millisecond)
		}
	}
	if err := b.stopClients(); err != nil {
		return nil, err
	}
	if err := b.stopServer(); err != nil {
		return nil, err
	}
	return b.result(), nil
}

// bench is one Run: the processes, the server's lines, the kills and the
// timings. Only Run's goroutine touches it, except the channels, which a
// reader goroutine per server fills.
type bench struct {
	cfg     Config
	res     *Result
	server  *proc
	clients []*proc // nil while a killed client is being replaced

	// Every line a server prints goes through one reader from its start:
	// ACCEPTING (the server is bound; connections may attach and print
	// before this line is read), FREED (a slot freed: reclaim timing), FDS
	// (the leak count at the end).
	accepting chan int64
	freed     chan []string
	fds       chan []string

	ledger ledger // every call and execution, from the logs of the processes that ended

	kills                      []int64           // CLOCK_MONOTONIC of each server kill, in order
	seen                       map[[2]int64]bool // DETECTED lines counted: kill index, pid·10⁶+connection
	detect, reconnect, reclaim *hdrhistogram.Histogram
}

// callTimeout is each call's deadline.
func (cfg *Config) callTimeout() time.Duration {
	if cfg.CallTimeout == 0 {
		return time.Second
	}
	return cfg.CallTimeout
}

// maxLatency is the largest time the histograms hold, in nanoseconds; a
// longer one is recorded as this.
const maxLatency = int64(time.Hour)

func newBench(cfg Config) *bench {
	if cfg.Logf == nil {
		cfg.Logf = func(string, ...any) {}
	}
	newHist := func() *hdrhistogram.Histogram { return hdrhistogram.New(1, maxLatency, 3) }
	return &bench{cfg: cfg, res: &Result{Mode: "restart", Conns: cfg.Conns, Trials: cfg.Trials},
		clients:   make([]*proc, cfg.Procs),
		accepting: make(chan int64, 1), freed: make(chan []string, 65536), fds: make(chan []string, 1),
		seen: map[[2]int64]bool{}, detect: newHist(), reconnect: newHist(), reclaim: newHist()}
}

// record adds the time from t0 to t1 (CLOCK_MONOTONIC ns) to h; a negative
// one counts as 0, a longer one than maxLatency as maxLatency.
func record(h *hdrhistogram.Histogram, t0, t1 int64) {
	_ = h.RecordValue(min(max(t1-t0, 0), maxLatency))
}

// ms returns h's value at percentile p, in milliseconds.
func ms(h *hdrhistogram.Histogram, p float64) float64 { return float64(h.ValueAtPercentile(p)) / 1e6 }

// events is the order of the kills: true for a server kill.
func (b *bench) events() []bool {
	events := make([]bool, 0, b.cfg.Trials+b.cfg.ClientKills)
	for range b.cfg.Trials {
		events = append(events, true)
	}
	for range b.cfg.ClientKills {
		events = append(events, false)
	}
	if b.cfg.Chaos {
		rand.Shuffle(len(events), func(i, j int) { events[i], events[j] = events[j], events[i] })
	}
	return events
}

// start starts the server and every client.
func (b *bench) start() error {
	var err error
	if b.server, _, err = b.startServer(); err != nil {
		return err
	}
	for i := range b.clients {
		if err := b.startClient(i); err != nil {
			return err
		}
	}
	return nil
}

// killAll kills whatever is still running and drops its log (Run's
// clean-up).
func (b *bench) killAll() {
	if b.server != nil {
		b.server.kill()
		b.server.log.close()
	}
	for _, c := range b.clients {
		if c != nil {
			c.kill()
			c.log.close()
		}
	}
}

// stepTimeout bounds each wait of the bench for its processes (a server
// accepting, a client's reconnection or counters, a killed client's slots
// freed): generous, for a loaded two-CPU host running the tests under
// -race, where ten seconds once did not do for a server to start.
const stepTimeout = 30 * time.Second

// startServer starts a server, with the reader of its lines, and returns
// it with the time it said it was accepting.
func (b *bench) startServer() (*proc, int64, error) {
	p, err := b.cfg.start("server", 0, 0)
	if err != nil {
		return nil, 0, err
	}
	go b.readServer(p)
	select {
	case t := <-b.accepting:
		return p, t, nil
	case <-time.After(stepTimeout):
		p.kill()
		return nil, 0, fmt.Errorf("the server did not start accepting within %v", stepTimeout)
	}
}

// readServer hands the lines of server p to the channels they are for.
func (b *bench) readServer(p *proc) {
	for l := range p.lines {
		switch f := strings.Fields(l); {
		case len(f) == 2 && f[0] == "ACCEPTING":
			b.accepting <- atoi64(f[1])
		case len(f) == 3 && f[0] == "FREED":
			b.freed <- f[1:]
		case len(f) == 3 && f[0] == "FDS":
			b.fds <- f[1:]
		}
	}
}

// startClient starts client process i with its share of the connections
// and waits until every one is dialled.
func (b *bench) startClient(i int) error {
	n := b.cfg.Conns / b.cfg.Procs
	if i < b.cfg.Conns%b.cfg.Procs {
		n++
	}
	c, err := b.cfg.start("client", n, len(b.ledger.sheets))
	if err != nil {
		return err
	}
	b.ledger.sheets = append(b.ledger.sheets, nil)
	b.clients[i] = c
	_, err = c.expect("READY", 20*time.Second)
	return err
}

// detected counts a DETECTED line of client pid towards the latest server
// kill before its stamp, whichever trial's loop reads it (a client prints
// them from a ticker, so one may be read after the client's RECONNECTED
// lines), once per kill and connection.
func (b *bench) detected(pid int, conn string, stamp int64) {
	k := len(b.kills) - 1
	for k > 0 && b.kills[k] > stamp {
		k--
	}
	key := [2]int64{int64(k), int64(pid)*1e6 + atoi64(conn)}
	if k >= 0 && !b.seen[key] {
		b.seen[key] = true
		record(b.detect, b.kills[k], stamp)
	}
}

// result fills in the timings and the call counts, and logs the spread
// of the timings.
func (b *bench) result() *Result {
	res := b.res
	b.ledger.tally(res)
	res.ReconnectP50Ms, res.ReconnectP100Ms = ms(b.reconnect, 50), ms(b.reconnect, 100)
	res.DetectP100Ms, res.DetectP50Ms = ms(b.detect, 100), ms(b.detect, 50)
	res.ClientReclaimP100Ms, res.ClientReclaimP50Ms = ms(b.reclaim, 100), ms(b.reclaim, 50)
	for _, s := range []struct {
		what, over string
		h          *hdrhistogram.Histogram
	}{{"reclaim", "client kills", b.reclaim}, {"detect", "connection deaths", b.detect}} {
		b.cfg.Logf("%s p50 %.2f ms, p90 %.2f ms, p99 %.2f ms, p100 %.2f ms over %d %s",
			s.what, ms(s.h, 50), ms(s.h, 90), ms(s.h, 99), ms(s.h, 100), s.h.TotalCount(), s.over)
	}
	return res
}
