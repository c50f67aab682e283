package restartbench

import (
	"fmt"
	"os"
	"os/exec"
	"testing"
	"time"
)

// TestChildProcess is the children's entry point.
func TestChildProcess(t *testing.T) {
	if Role() == "" {
		t.Skip("child process entry point")
	}
	if err := ChildMain(); err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

func spawn(env []string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^TestChildProcess$")
	cmd.Env = append(os.Environ(), env...)
	return cmd
}

func TestRestart(t *testing.T) {
	res, err := Run(Config{Name: "rb", Dir: t.TempDir(), Conns: 8, Procs: 2, Trials: 3, ClientKills: 2,
		Think: 200 * time.Microsecond, Spawn: spawn, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", res)
	if res.Calls == 0 || res.Lost != 0 || res.Duplicated != 0 || res.Wrong != 0 {
		t.Fatalf("delivery: %+v", res)
	}
	if res.ReconnectP100Ms <= 0 || res.ClientReclaimP100Ms <= 0 || res.DetectP100Ms <= 0 {
		t.Fatalf("timings not measured: %+v", res)
	}
	if res.LeakedFDs != 0 || res.LeakedMaps != 0 {
		t.Fatalf("leaks: %+v", res)
	}
}

// TestChaos: a server and 20 client processes; random SIGKILLs of clients
// and the server over many rounds. Every call ends in a reply or an error,
// no reply is wrong or duplicated, and nothing leaks.
func TestChaos(t *testing.T) {
	if testing.Short() {
		t.Skip("chaos test: about 30 s; skipped with -short")
	}
	res, err := Run(Config{Name: "chaos", Dir: t.TempDir(), Conns: 40, Procs: 20, Trials: 15, ClientKills: 30,
		Think: time.Millisecond, Chaos: true, Spawn: spawn, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", res)
	if res.Calls == 0 || res.Lost != 0 || res.Duplicated != 0 || res.Wrong != 0 || res.LeakedFDs != 0 || res.LeakedMaps != 0 {
		t.Fatalf("chaos: %+v", res)
	}
}

func TestRunRefusesBadConfig(t *testing.T) {
	for _, c := range []Config{{}, {Conns: 1, Procs: 2, Spawn: spawn}, {Conns: 2, Procs: 1}} {
		if _, err := Run(c); err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
	if err := ChildMain(); err == nil {
		t.Error("ChildMain without a role succeeded")
	}
}

// TestDetectedCountsOncePerKill: a DETECTED line counts towards the latest
// server kill before its stamp, once per kill and connection, and the
// timings come out in milliseconds.
func TestDetectedCountsOncePerKill(t *testing.T) {
	b := newBench(Config{Conns: 2, Procs: 1, Trials: 2, ClientKills: 3})
	b.kills = []int64{1_000_000, 5_000_000}
	b.detected(7, "0", 3_000_000) // kill 0, 2 ms later
	b.detected(7, "0", 3_500_000) // the same connection and kill again: ignored
	b.detected(7, "1", 6_000_000) // kill 1, 1 ms later
	b.detected(8, "0", 5_500_000) // another process's connection 0: kill 1, 0.5 ms
	if n := b.detect.TotalCount(); n != 3 {
		t.Fatalf("%d detections counted, want 3", n)
	}
	record(b.reconnect, 10, 5) // a stamp before its start counts as 0
	record(b.reclaim, 0, 4_000_000)
	res := b.result()
	near := func(got, want float64) bool { return got >= want && got <= want*1.001 }
	if !near(res.DetectP100Ms, 2) || !near(res.DetectP50Ms, 1) || res.ReconnectP100Ms != 0 || !near(res.ClientReclaimP50Ms, 4) {
		t.Fatalf("%+v", res)
	}
	var servers int
	for _, e := range b.events() {
		if e {
			servers++
		}
	}
	if len(b.events()) != 5 || servers != 2 || !b.events()[0] || b.events()[4] {
		t.Fatalf("events %v", b.events())
	}
}
