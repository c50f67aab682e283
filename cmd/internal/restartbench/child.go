package restartbench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spinwire/spinwire/link"
	"golang.org/x/sys/unix"
)

// Req and Resp are the benchmark's messages. A request names its call:
// the client incarnation (Proc, given by the orchestrator), the
// connection in that process (Conn) and the call's seq.
type Req struct {
	Seq  uint64 // per connection, from 1
	Proc uint32 // the client incarnation: 0, 1, 2, … in the order started
	Conn uint32 // the connection, in its process
	A, B int64  // A is Seq, B is Proc<<32 | Conn
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
	envRole    = "RESTARTBENCH_ROLE"
	envName    = "RESTARTBENCH_NAME"
	envDir     = "RESTARTBENCH_DIR"
	envConns   = "RESTARTBENCH_CONNS"
	envThink   = "RESTARTBENCH_THINK"
	envProc    = "RESTARTBENCH_PROC"
	envTimeout = "RESTARTBENCH_TIMEOUT"
)

// lostGrace is how long past its deadline a call may stay in flight
// before it counts as lost (Result.Lost).
const lostGrace = 2 * time.Second

// Role returns the child role this process was started in, or "".
func Role() string { return os.Getenv(envRole) }

// ChildMain runs the child role named by the environment, with its log on
// descriptor 3 (the orchestrator's exec.Cmd.ExtraFiles); it returns when
// its stdin closes (the orchestrator's way to stop it).
func ChildMain() error { return childMain(nil) }

// handler is a server's request handler.
type handler = func(q *Req, r *Resp)

// childMain is ChildMain; a server runs wrap(its handler) when wrap is
// not nil (a test's server that stalls, say).
func childMain(wrap func(handler) handler) error {
	name, dir := os.Getenv(envName), os.Getenv(envDir)
	switch Role() {
	case "server":
		return serverMain(name, dir, wrap)
	case "client":
		n, err := strconv.Atoi(os.Getenv(envConns))
		if err != nil || n < 1 || n > maxLogConns {
			return fmt.Errorf("bad %s", envConns)
		}
		proc, err := strconv.ParseUint(os.Getenv(envProc), 10, 32)
		if err != nil {
			return fmt.Errorf("bad %s", envProc)
		}
		k := caller{proc: uint32(proc), timeout: time.Second}
		k.think, _ = time.ParseDuration(os.Getenv(envThink))
		if t, err := time.ParseDuration(os.Getenv(envTimeout)); err == nil && t > 0 {
			k.timeout = t
		}
		return clientMain(name, dir, n, k)
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

func serverMain(name, dir string, wrap func(handler) handler) error {
	lg, err := openChildLog(logFd, execMagic)
	if err != nil {
		return err
	}
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
	// The execution is logged before the response is written (executed).
	h := func(q *Req, r *Resp) {
		lg.executed(q.Proc, q.Conn, q.Seq)
		r.Seq, r.Sum = q.Seq, q.A+q.B
	}
	if wrap != nil {
		h = wrap(h)
	}
	go s.Serve(h)
	emit("ACCEPTING %d", now())
	io.Copy(io.Discard, os.Stdin)
	emit("FDS %d %d", serverLeftovers(s, fds0), s.Stats().Conns)
	return s.Close()
}

// serverLeftovers returns how many fds s holds beyond its own once every
// client is gone: its own are the lock file, the listening socket, the
// epoll fd, its wake-up eventfd, the liveness page and its open arenas
// (the spare, and departed processes' awaiting their grace period, which
// it waits up to a second for).
func serverLeftovers(s *link.Server[Req, Resp], fds0 int) int {
	const own = 5
	for range 100 {
		if st := s.Stats(); st.Arenas <= 1 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	return openFDs() - fds0 - own - s.Stats().Arenas
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
// own liveness page (which its death watch keeps for the process's life)
// and its log.
func memfdMaps() int {
	b, _ := os.ReadFile("/proc/self/maps")
	return strings.Count(string(b), "/memfd:") - strings.Count(string(b), "/memfd:spinwire-client-liveness") -
		strings.Count(string(b), "/memfd:restartbench-log")
}

// clientMain dials n connections and calls on each, as k says, until
// stdin closes.
func clientMain(name, dir string, n int, k caller) error {
	var err error
	if k.log, err = openChildLog(logFd, callMagic); err != nil {
		return err
	}
	fds0 := openFDs()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
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
	conns, err := dialAll(name, dir, detected)
	if err != nil {
		return err
	}
	var active sync.WaitGroup
	for i, c := range conns {
		k := k
		k.c, k.conn = c, i
		active.Go(func() { k.run(ctx) })
	}
	emit("READY %d", os.Getpid())
	io.Copy(io.Discard, os.Stdin)
	cancel()
	// A call still busy when its deadline and lostGrace have passed ended
	// in neither response nor error: the seal keeps it in flight in the
	// log (lost), whatever Close makes of it.
	done := make(chan struct{})
	go func() { active.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(k.timeout + lostGrace):
		k.log.seal()
	}
	for _, c := range conns {
		c.Close()
	}
	// Left open: the process's death watch — its epoll fd and its own
	// liveness page (one fd, one mapping) — nothing else.
	flushDetected()
	emit("STATS %d %d", openFDs()-fds0-2, memfdMaps())
	return nil
}

// dialAll dials one connection per element of detected; connection i
// stores the time it sees the server die in detected[i].
func dialAll(name, dir string, detected []atomic.Int64) ([]*link.Conn[Req, Resp], error) {
	conns := make([]*link.Conn[Req, Resp], len(detected))
	for i := range conns {
		c, err := link.Dial[Req, Resp](name, link.DialOptions{Dir: dir, SpinFor: 2 * time.Microsecond,
			OnState: func(s link.State, err error) {
				if s == link.Reconnecting && err == nil {
					detected[i].Store(now())
				}
			}})
		if err != nil {
			for _, c := range conns[:i] {
				c.Close()
			}
			return nil, fmt.Errorf("dial %d: %w", i, err)
		}
		conns[i] = c
	}
	return conns, nil
}

// caller is one connection's calls: which connection, how often, with
// which deadline, and the log they go in.
type caller struct {
	c       *link.Conn[Req, Resp]
	proc    uint32 // the client incarnation
	conn    int
	think   time.Duration // pause after each response
	timeout time.Duration // each call's deadline
	log     *childLog
}

// run calls until ctx ends, logging each call before and after it and
// checking every response against its request. It stops early when the
// log is full (the orchestrator sees it in the log and fails the run).
func (k *caller) run(ctx context.Context) {
	var seq uint64
	epoch := k.c.Epoch()
	for ctx.Err() == nil {
		seq++
		rec, ok := k.log.begin(k.conn, seq, now())
		if !ok {
			return
		}
		q := Req{Seq: seq, Proc: k.proc, Conn: uint32(k.conn), A: int64(seq), B: int64(k.proc)<<32 | int64(k.conn)}
		var r Resp
		o := judge(k.c.Call(time.Now().Add(k.timeout), &q, &r), &q, &r)
		k.log.end(rec, k.conn, seq, o)
		if o != outcomeAnswered && o != outcomeWrong {
			time.Sleep(time.Millisecond)
			continue
		}
		// The first response from a new server incarnation (Epoch is 0
		// if the server died since this response).
		if e := k.c.Epoch(); o == outcomeAnswered && e != epoch && e != 0 {
			emit("RECONNECTED %d %d", k.conn, now())
			epoch = e
		}
		if k.think > 0 {
			time.Sleep(k.think)
		}
	}
}

// judge is the outcome of a call of q that returned err, and r.
func judge(err error, q *Req, r *Resp) outcome {
	switch {
	case errors.Is(err, link.ErrPeerGone):
		return outcomeFailedPeerGone
	case errors.Is(err, link.ErrTimeout):
		return outcomeFailedTimeout
	case err != nil:
		return outcomeFailedOther
	case r.Seq == q.Seq && r.Sum == q.A+q.B:
		return outcomeAnswered
	}
	return outcomeWrong
}
