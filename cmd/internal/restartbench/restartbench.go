// Package restartbench is the crash-and-restart benchmark behind
// `pingpong -mode restart`, and the chaos test of link's delivery
// semantics: a server process and client processes that call continuously
// with sequence numbers and check every reply, while the orchestrator kills
// the server (and clients) with SIGKILL and restarts them, timing detection,
// reconnection and reclaim from CLOCK_MONOTONIC stamps the processes print.
package restartbench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spinwire/spinwire/link"
	"golang.org/x/sys/unix"
)

// Req and Resp are the benchmark's messages.
type Req struct {
	Seq  uint64 // per connection, from 1
	A, B int64
	_    [8]byte
}

// Resp echoes Seq and answers A+B.
type Resp struct {
	Seq uint64
	Sum int64
}

// now is CLOCK_MONOTONIC in nanoseconds: comparable across processes.
func now() int64 {
	var ts unix.Timespec
	unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return ts.Nano()
}

// Environment of the child roles.
const (
	envRole  = "RESTARTBENCH_ROLE"
	envName  = "RESTARTBENCH_NAME"
	envDir   = "RESTARTBENCH_DIR"
	envConns = "RESTARTBENCH_CONNS"
	envThink = "RESTARTBENCH_THINK"
)

// Role returns the child role this process was started in, or "".
func Role() string { return os.Getenv(envRole) }

// ChildMain runs the child role named by the environment; it returns when
// its stdin closes (the orchestrator's way to stop it).
func ChildMain() error {
	name, dir := os.Getenv(envName), os.Getenv(envDir)
	switch Role() {
	case "server":
		return serverMain(name, dir)
	case "client":
		n, err := strconv.Atoi(os.Getenv(envConns))
		if err != nil || n < 1 {
			return fmt.Errorf("bad %s", envConns)
		}
		think, _ := time.ParseDuration(os.Getenv(envThink))
		return clientMain(name, dir, n, think)
	}
	return fmt.Errorf("unknown role %q", Role())
}

// out serialises the lines children print for the orchestrator.
var out struct {
	sync.Mutex
	w *bufio.Writer
}

func emit(format string, args ...any) {
	out.Lock()
	if out.w == nil {
		out.w = bufio.NewWriter(os.Stdout)
	}
	fmt.Fprintf(out.w, format+"\n", args...)
	out.w.Flush()
	out.Unlock()
}

func serverMain(name, dir string) error {
	fds0 := openFDs()
	freed := make(chan [2]int64, 1<<16)
	s, err := link.Listen[Req, Resp](name, link.Options{Dir: dir, MaxConns: 4096,
		// A write(2) per freed slot in the callback would delay the slots
		// after it: the stamps go through a channel to a printer.
		OnDisconnect: func(i link.ConnInfo) { freed <- [2]int64{int64(i.PID), now()} }})
	go func() {
		for f := range freed {
			emit("FREED %d %d", f[0], f[1])
		}
	}()
	if err != nil {
		return err
	}
	go s.Serve(func(q *Req, r *Resp) { r.Seq, r.Sum = q.Seq, q.A+q.B })
	emit("ACCEPTING %d", now())
	io.Copy(io.Discard, os.Stdin)
	// With every client gone, what is left is the server's own: the lock
	// file, the listening socket, the epoll fd, its wake-up eventfd, the
	// liveness page and one arena memfd per trust domain (here: one).
	emit("FDS %d %d", openFDs()-fds0-6, s.Stats().Conns)
	return s.Close()
}

// counters a client process reports when it stops.
type counters struct {
	calls, errs, dup, wrong, lost atomic.Uint64
}

// openFDs counts this process's open file descriptors. The first call
// starts the Go runtime's netpoller (its epoll fd and eventfd, which the
// first timer would open anyway), so later counts compare like with like.
func openFDs() int {
	time.Sleep(time.Microsecond)
	ents, _ := os.ReadDir("/proc/self/fd")
	return len(ents)
}

// memfdMaps counts this process's mappings of memfd segments other than its
// own liveness page (which its death watch keeps for the process's life).
func memfdMaps() int {
	b, _ := os.ReadFile("/proc/self/maps")
	return strings.Count(string(b), "/memfd:") - strings.Count(string(b), "/memfd:spinwire-client-liveness")
}

func clientMain(name, dir string, n int, think time.Duration) error {
	var cnt counters
	fds0 := openFDs()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	conns := make([]*link.Conn[Req, Resp], n)
	// Detection times are stamped in the death watch's callback and printed
	// by another goroutine: a write(2) per connection in the callback would
	// delay the callbacks of the connections after it.
	detected := make([]atomic.Int64, n)
	flushDetected := func() {
		for i := range detected {
			if t := detected[i].Swap(0); t != 0 {
				emit("DETECTED %d %d", i, t)
			}
		}
	}
	go func() {
		for {
			time.Sleep(time.Millisecond)
			flushDetected()
		}
	}()
	for i := range conns {
		id := i
		c, err := link.Dial[Req, Resp](name, link.DialOptions{Dir: dir, SpinFor: 2 * time.Microsecond,
			OnState: func(s link.State, err error) {
				if s == link.Reconnecting && err == nil {
					detected[id].Store(now())
				}
			}})
		if err != nil {
			return fmt.Errorf("dial %d: %w", i, err)
		}
		conns[i] = c
	}
	var active sync.WaitGroup
	for i, c := range conns {
		active.Add(1)
		go func() {
			defer active.Done()
			callLoop(ctx, c, i, think, &cnt)
		}()
	}
	emit("READY %d", os.Getpid())
	io.Copy(io.Discard, os.Stdin)
	cancel()
	// Every call has a 1 s deadline: a goroutine still busy 3 s later holds
	// a call that ended in neither reply nor error.
	done := make(chan struct{})
	go func() { active.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(3 * time.Second):
		cnt.lost.Add(1)
	}
	for _, c := range conns {
		c.Close()
	}
	// Left open: the process's death watch — its epoll fd and its own
	// liveness page (one fd, one mapping) — nothing else.
	flushDetected()
	emit("STATS %d %d %d %d %d %d %d", cnt.calls.Load(), cnt.errs.Load(), cnt.dup.Load(), cnt.wrong.Load(), cnt.lost.Load(),
		openFDs()-fds0-2, memfdMaps())
	return nil
}

// callLoop calls until ctx ends, checking every reply against its request.
func callLoop(ctx context.Context, c *link.Conn[Req, Resp], id int, think time.Duration, cnt *counters) {
	var seq uint64
	epoch := c.Epoch()
	for ctx.Err() == nil {
		seq++
		q := Req{Seq: seq, A: int64(seq), B: int64(id)}
		var r Resp
		err := c.Call(time.Now().Add(time.Second), &q, &r)
		cnt.calls.Add(1)
		switch {
		case err != nil:
			cnt.errs.Add(1)
			time.Sleep(time.Millisecond)
			continue
		case r.Seq == seq && r.Sum == q.A+q.B:
			// The first reply from a new server incarnation (Epoch is 0
			// if the server died since this reply).
			if e := c.Epoch(); e != epoch && e != 0 {
				emit("RECONNECTED %d %d", id, now())
				epoch = e
			}
		case r.Seq < seq:
			cnt.dup.Add(1)
		default:
			cnt.wrong.Add(1)
		}
		if think > 0 {
			time.Sleep(think)
		}
	}
}

// Config configures Run.
type Config struct {
	Name        string
	Dir         string
	Conns       int           // client connections in all
	Procs       int           // client processes (the connections are spread over them)
	Trials      int           // server kills
	ClientKills int           // client kills
	Think       time.Duration // pause between a connection's calls
	Chaos       bool          // interleave server and client kills at random
	// Spawn starts this program in a child role: it must return a command
	// whose environment includes env (and os.Environ).
	Spawn func(env []string) *exec.Cmd
	Logf  func(format string, args ...any)
}

// Result is the JSON line of `pingpong -mode restart`.
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
	Calls               uint64  `json:"calls"`
	Lost                uint64  `json:"lost"`
	Duplicated          uint64  `json:"duplicated"`
	Wrong               uint64  `json:"wrong"`
	LeakedFDs           int     `json:"leaked_fds"`
	LeakedMaps          int     `json:"leaked_maps"`
}

// proc is a child process and the lines it prints.
type proc struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	lines chan string
	conns int
	pid   int
}

func (cfg *Config) start(role string, conns int) (*proc, error) {
	cmd := cfg.Spawn([]string{envRole + "=" + role, envName + "=" + cfg.Name, envDir + "=" + cfg.Dir,
		envConns + "=" + strconv.Itoa(conns), envThink + "=" + cfg.Think.String()})
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &proc{cmd: cmd, stdin: stdin, lines: make(chan string, 4096), conns: conns, pid: cmd.Process.Pid}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
		close(p.lines)
	}()
	return p, nil
}

func (p *proc) kill() {
	p.cmd.Process.Kill()
	p.cmd.Wait()
}

// expect waits for a line starting with word and returns its fields.
func (p *proc) expect(word string, timeout time.Duration) ([]string, error) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	for {
		select {
		case l, ok := <-p.lines:
			if !ok {
				return nil, fmt.Errorf("process %d exited before %s", p.pid, word)
			}
			if f := strings.Fields(l); len(f) > 0 && f[0] == word {
				return f[1:], nil
			}
		case <-t.C:
			return nil, fmt.Errorf("process %d: no %s within %v", p.pid, word, timeout)
		}
	}
}

func atoi64(s string) int64 { n, _ := strconv.ParseInt(s, 10, 64); return n }

// Run runs the benchmark and returns its result.
func Run(cfg Config) (*Result, error) {
	if cfg.Conns < 1 || cfg.Procs < 1 || cfg.Procs > cfg.Conns || cfg.Trials < 0 || cfg.ClientKills < 0 || cfg.Spawn == nil {
		return nil, fmt.Errorf("restartbench: conns %d, procs %d, trials %d, client kills %d", cfg.Conns, cfg.Procs, cfg.Trials, cfg.ClientKills)
	}
	if cfg.Logf == nil {
		cfg.Logf = func(string, ...any) {}
	}
	res := &Result{Mode: "restart", Conns: cfg.Conns, Trials: cfg.Trials}
	// Every line a server prints goes through one reader from its start:
	// ACCEPTING (the server is bound; connections may attach and print
	// before this line is read), FREED (a slot freed: reclaim timing), FDS
	// (the leak count at the end).
	freed := make(chan []string, 65536)
	fds := make(chan []string, 1)
	accepting := make(chan int64, 1)
	startServer := func() (*proc, int64, error) {
		p, err := cfg.start("server", 0)
		if err != nil {
			return nil, 0, err
		}
		go func() {
			for l := range p.lines {
				switch f := strings.Fields(l); {
				case len(f) == 2 && f[0] == "ACCEPTING":
					accepting <- atoi64(f[1])
				case len(f) == 3 && f[0] == "FREED":
					freed <- f[1:]
				case len(f) == 3 && f[0] == "FDS":
					fds <- f[1:]
				}
			}
		}()
		select {
		case t := <-accepting:
			return p, t, nil
		case <-time.After(10 * time.Second):
			p.kill()
			return nil, 0, errors.New("the server did not start accepting within 10 s")
		}
	}
	server, _, err := startServer()
	if err != nil {
		return nil, err
	}
	defer func() { server.kill() }()
	clients := make([]*proc, cfg.Procs)
	defer func() {
		for _, c := range clients {
			if c != nil {
				c.kill()
			}
		}
	}()
	startClient := func(i int) error {
		n := cfg.Conns / cfg.Procs
		if i < cfg.Conns%cfg.Procs {
			n++
		}
		c, err := cfg.start("client", n)
		if err != nil {
			return err
		}
		clients[i] = c
		_, err = c.expect("READY", 20*time.Second)
		return err
	}
	for i := range clients {
		if err := startClient(i); err != nil {
			return nil, err
		}
	}
	time.Sleep(100 * time.Millisecond)

	var reconnect, detect, reclaim []float64
	ms := func(ns int64) float64 { return float64(max(ns, 0)) / 1e6 }
	// A DETECTED line counts towards the latest server kill before its
	// stamp, whichever trial's loop reads it (a client prints them from a
	// ticker, so one may be read after the client's RECONNECTED lines).
	var kills []int64
	seenD := map[[2]int64]bool{} // kill index, pid*1e6+conn
	detected := func(pid int, conn string, stamp int64) {
		k := len(kills) - 1
		for k > 0 && kills[k] > stamp {
			k--
		}
		key := [2]int64{int64(k), int64(pid)*1e6 + atoi64(conn)}
		if k >= 0 && !seenD[key] {
			seenD[key] = true
			detect = append(detect, ms(stamp-kills[k]))
		}
	}
	killServer := func(t int) error {
		tKill := now()
		kills = append(kills, tKill)
		server.kill()
		time.Sleep(20 * time.Millisecond)
		var err error
		var tAccept int64
		if server, tAccept, err = startServer(); err != nil {
			return err
		}
		// Every connection reports DETECTED once and RECONNECTED once.
		for _, c := range clients {
			seenR := map[string]bool{}
			deadline := time.After(10 * time.Second)
			for len(seenR) < c.conns {
				select {
				case l, ok := <-c.lines:
					if !ok {
						return fmt.Errorf("trial %d: client %d exited", t, c.pid)
					}
					f := strings.Fields(l)
					if len(f) != 3 {
						continue
					}
					switch {
					case f[0] == "DETECTED":
						detected(c.pid, f[1], atoi64(f[2]))
					case f[0] == "RECONNECTED" && !seenR[f[1]] && atoi64(f[2]) > tKill:
						seenR[f[1]] = true
						reconnect = append(reconnect, ms(atoi64(f[2])-tAccept))
					}
				case <-deadline:
					return fmt.Errorf("trial %d: %d of client %d's %d connections reconnected within 10 s", t, len(seenR), c.pid, c.conns)
				}
			}
		}
		cfg.Logf("server kill %d: restarted, %d connections back", t+1, cfg.Conns)
		return nil
	}
	killClient := func(k int) error {
		i := rand.IntN(len(clients))
		victim := clients[i]
		// What it printed about the last server kill counts.
		for drained := false; !drained; {
			select {
			case l := <-victim.lines:
				if g := strings.Fields(l); len(g) == 3 && g[0] == "DETECTED" {
					detected(victim.pid, g[1], atoi64(g[2]))
				}
			default:
				drained = true
			}
		}
		tKill := now()
		victim.kill()
		clients[i] = nil
		var last int64
		for got := 0; got < victim.conns; {
			select {
			case f := <-freed:
				if atoi64(f[0]) == int64(victim.pid) {
					got++
					last = max(last, atoi64(f[1]))
				}
			case <-time.After(10 * time.Second):
				return fmt.Errorf("client kill %d: %d of %d slots reclaimed within 10 s", k, got, victim.conns)
			}
		}
		reclaim = append(reclaim, ms(last-tKill))
		cfg.Logf("client kill %d: %d slots reclaimed", k+1, victim.conns)
		return startClient(i)
	}
	events := make([]bool, 0, cfg.Trials+cfg.ClientKills) // true: a server kill
	for range cfg.Trials {
		events = append(events, true)
	}
	for range cfg.ClientKills {
		events = append(events, false)
	}
	if cfg.Chaos {
		rand.Shuffle(len(events), func(i, j int) { events[i], events[j] = events[j], events[i] })
	}
	ts, ks := 0, 0
	for _, isServer := range events {
		var err error
		if isServer {
			err = killServer(ts)
			ts++
		} else {
			err = killClient(ks)
			ks++
		}
		if err != nil {
			return nil, err
		}
		if cfg.Chaos {
			time.Sleep(time.Duration(rand.IntN(50)) * time.Millisecond)
		}
	}
	// Stop the clients and gather their counts.
	for _, c := range clients {
		c.stdin.Close()
	}
	for i, c := range clients {
		// DETECTED lines of the last server kill may come up to here.
		var f []string
		for deadline := time.After(10 * time.Second); f == nil; {
			select {
			case l, ok := <-c.lines:
				if !ok {
					return nil, fmt.Errorf("client %d exited before STATS", c.pid)
				}
				switch g := strings.Fields(l); {
				case len(g) == 3 && g[0] == "DETECTED":
					detected(c.pid, g[1], atoi64(g[2]))
				case len(g) > 0 && g[0] == "STATS":
					f = g[1:]
				}
			case <-deadline:
				return nil, fmt.Errorf("client %d: no STATS within 10 s", c.pid)
			}
		}
		res.Calls += uint64(atoi64(f[0]))
		res.Duplicated += uint64(atoi64(f[2]))
		res.Wrong += uint64(atoi64(f[3]))
		res.Lost += uint64(atoi64(f[4]))
		res.LeakedFDs += int(atoi64(f[5]))
		cfg.Logf("client %d: %d fds, %d maps left", c.pid, atoi64(f[5]), atoi64(f[6]))
		res.LeakedMaps += int(atoi64(f[6]))
		c.cmd.Wait()
		clients[i] = nil
	}
	// The server, once every client is gone, holds nothing for them.
	for got := 0; got < cfg.Conns; got++ {
		select {
		case <-freed:
		case <-time.After(5 * time.Second):
			return nil, fmt.Errorf("the server freed %d of %d slots after the clients stopped", got, cfg.Conns)
		}
	}
	server.stdin.Close()
	select {
	case f := <-fds:
		if atoi64(f[1]) != 0 {
			return nil, fmt.Errorf("the server still has %s connections", f[1])
		}
		res.LeakedFDs += int(atoi64(f[0]))
		cfg.Logf("server: %s fds left", f[0])
	case <-time.After(5 * time.Second):
		return nil, errors.New("the server did not report its fds")
	}
	res.ReconnectP50Ms, res.ReconnectP100Ms = quantile(reconnect, 0.5), quantile(reconnect, 1)
	res.DetectP100Ms, res.DetectP50Ms = quantile(detect, 1), quantile(detect, 0.5)
	cfg.Logf("reclaim p50 %.2f ms, p90 %.2f ms, p99 %.2f ms, p100 %.2f ms over %d client kills", quantile(reclaim, 0.5), quantile(reclaim, 0.9), quantile(reclaim, 0.99), quantile(reclaim, 1), len(reclaim))
	cfg.Logf("detect p50 %.2f ms, p90 %.2f ms, p99 %.2f ms, p100 %.2f ms over %d connection deaths", quantile(detect, 0.5), quantile(detect, 0.9), quantile(detect, 0.99), quantile(detect, 1), len(detect))
	res.ClientReclaimP100Ms, res.ClientReclaimP50Ms = quantile(reclaim, 1), quantile(reclaim, 0.5)
	return res, nil
}

func quantile(v []float64, q float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	return s[min(int(q*float64(len(s))), len(s)-1)]
}
