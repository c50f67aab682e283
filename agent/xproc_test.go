package agent

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spinwire/spinwire/spin"
)

// TestDedicatedChild is the child's entry point of TestDedicatedAgent; it
// does nothing in a normal run.
func TestDedicatedChild(t *testing.T) {
	if os.Getenv("AGENT_CHILD") != "dedicated" {
		t.Skip("child process entry point")
	}
	run := map[string]func() error{"": dedicatedChild, "together": dedicatedTogether,
		"quiesce-twice": quiesceTwice}[os.Getenv("AGENT_CHILD_CASE")]
	if run == nil {
		t.Fatalf("no child case %q", os.Getenv("AGENT_CHILD_CASE"))
	}
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		os.Exit(3)
	}
	os.Exit(0)
}

// dedicatedChild runs a Dedicated agent, quiesces it to stop the world
// (runtime.ReadMemStats), and checks that it resumes.
func dedicatedChild() error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	n, errc, err := runCounting(ctx)
	if err != nil {
		return err
	}
	var ms runtime.MemStats
	if err := Quiesce(5*time.Second, func() { runtime.ReadMemStats(&ms) }); err != nil {
		return err
	}
	before := n.Load()
	for n.Load() < before+1000 {
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-errc; err != nil {
		return err
	}
	if ms.NumGC != 0 {
		return fmt.Errorf("%d GCs with GOGC=off", ms.NumGC)
	}
	return nil
}

// runCounting starts a Dedicated agent whose duty counts its calls in n,
// and returns once it has made a thousand; errc gets Run's result.
func runCounting(ctx context.Context) (n *atomic.Uint64, errc chan error, err error) {
	n, errc = new(atomic.Uint64), make(chan error, 1)
	a := &Agent{Name: "dedicated", Mode: Dedicated, Logf: func(string, ...any) {}}
	go func() { errc <- a.Run(ctx, -1, spin.BusySpin{}, func() int { n.Add(1); return 0 }) }()
	for n.Load() < 1000 {
		select {
		case err := <-errc:
			return nil, nil, fmt.Errorf("agent stopped: %v", err)
		default:
			time.Sleep(time.Millisecond)
		}
	}
	return n, errc, nil
}

// quiesceTwice: a Quiesce called while another's fn runs waits for it to
// end; it does not release the agents under that fn.
func quiesceTwice() error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	n, errc, err := runCounting(ctx)
	if err != nil {
		return err
	}
	inFirst, second := make(chan struct{}), make(chan error, 1)
	go func() {
		<-inFirst
		second <- Quiesce(5*time.Second, func() {})
	}()
	var moved uint64
	first := Quiesce(5*time.Second, func() {
		close(inFirst)
		before := n.Load()
		time.Sleep(50 * time.Millisecond) // the second Quiesce, unserialised, ends in µs
		moved = n.Load() - before
	})
	if first != nil {
		return first
	}
	if moved != 0 {
		return fmt.Errorf("the agent made %d calls during a Quiesce's fn: another Quiesce released it", moved)
	}
	if err := <-second; err != nil {
		return err
	}
	cancel()
	return <-errc
}

// dedicatedTogether starts eight Dedicated agents at once with
// GOMAXPROCS=4: two run (spinners + 2 Ps) and six are refused with
// ErrDedicated, however their starts interleave.
func dedicatedTogether() error {
	const agents, room = 8, 2
	if p := runtime.GOMAXPROCS(0); p != room+2 {
		return fmt.Errorf("GOMAXPROCS=%d, want %d", p, room+2)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ctx.Done() // made before the agents start (Run's doc)
	start := make(chan struct{})
	var running atomic.Int32
	errc := make(chan error, agents)
	for i := range agents {
		a := &Agent{Name: fmt.Sprint("together-", i), Mode: Dedicated, Logf: func(string, ...any) {}}
		var ran atomic.Bool
		duty := func() int {
			if !ran.Swap(true) {
				running.Add(1)
			}
			return 0
		}
		go func() {
			<-start
			errc <- a.Run(ctx, -1, spin.Yield{}, duty)
		}()
	}
	close(start)
	refused := 0
	for deadline := time.Now().Add(10 * time.Second); refused+int(running.Load()) < agents; {
		select {
		case err := <-errc:
			if !errors.Is(err, ErrDedicated) {
				return fmt.Errorf("an agent returned %v, want ErrDedicated", err)
			}
			refused++
		case <-time.After(time.Millisecond):
			if time.Now().After(deadline) {
				return fmt.Errorf("after 10 s: %d running, %d refused of %d", running.Load(), refused, agents)
			}
		}
	}
	if n := running.Load(); n != room {
		return fmt.Errorf("%d dedicated agents run with GOMAXPROCS=%d, want %d (%d refused)", n, room+2, room, refused)
	}
	cancel()
	for range room {
		if err := <-errc; err != nil {
			return err
		}
	}
	return nil
}

// TestDedicatedAgent: in a process started with GODEBUG=asyncpreemptoff=1
// and GOGC=off, a Dedicated agent runs, parks for Quiesce while the world
// stops, and resumes.
func TestDedicatedAgent(t *testing.T) { runChild(t, "") }

// TestQuiesceTwice: Quiesce calls are serialised (quiesceTwice).
func TestQuiesceTwice(t *testing.T) { runChild(t, "quiesce-twice") }

// TestDedicatedAgentsTogether: agents started together obey the
// GOMAXPROCS rule (dedicatedTogether).
func TestDedicatedAgentsTogether(t *testing.T) { runChild(t, "together") }

// runChild runs TestDedicatedChild's case in a process where Dedicated
// agents may run: GODEBUG=asyncpreemptoff=1, GOGC=off, GOMAXPROCS=4.
func runChild(t *testing.T, name string) {
	cmd := exec.Command(os.Args[0], "-test.run=^TestDedicatedChild$")
	cmd.Env = append(os.Environ(), "AGENT_CHILD=dedicated", "AGENT_CHILD_CASE="+name,
		"GODEBUG=asyncpreemptoff=1", "GOGC=off", "GOMAXPROCS=4")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
}
