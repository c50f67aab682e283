package restartbench

import (
	"bufio"
	"context"
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
		active.Go(func() { callLoop(ctx, c, i, think, &cnt) })
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
