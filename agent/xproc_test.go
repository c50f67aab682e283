package agent

import (
	"context"
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
	if err := dedicatedChild(); err != nil {
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
	var n atomic.Uint64
	a := &Agent{Name: "dedicated", Mode: Dedicated, Logf: func(string, ...any) {}}
	errc := make(chan error, 1)
	go func() { errc <- a.Run(ctx, -1, spin.BusySpin{}, func() int { n.Add(1); return 0 }) }()
	for n.Load() < 1000 {
		select {
		case err := <-errc:
			return fmt.Errorf("agent stopped: %v", err)
		default:
			time.Sleep(time.Millisecond)
		}
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

// TestDedicatedAgent: in a process started with GODEBUG=asyncpreemptoff=1
// and GOGC=off, a Dedicated agent runs, parks for Quiesce while the world
// stops, and resumes.
func TestDedicatedAgent(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-test.run=^TestDedicatedChild$")
	cmd.Env = append(os.Environ(), "AGENT_CHILD=dedicated", "GODEBUG=asyncpreemptoff=1", "GOGC=off", "GOMAXPROCS=4")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
}
