package restartbench

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"sync/atomic"
	"testing"
	"time"
)

// envStall, in a test's server, stalls its handler (stallAfter).
const envStall = "RESTARTBENCH_TEST_STALL"

// TestChildProcess is the children's entry point.
func TestChildProcess(t *testing.T) {
	if Role() == "" {
		t.Skip("child process entry point")
	}
	var wrap func(handler) handler
	if n, err := strconv.Atoi(os.Getenv(envStall)); err == nil {
		wrap = stallAfter(n)
	}
	if err := childMain(wrap); err != nil {
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
	checkDelivery(t, res)
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
	checkDelivery(t, res)
	if res.LeakedFDs != 0 || res.LeakedMaps != 0 {
		t.Fatalf("leaks: %+v", res)
	}
}

// checkDelivery fails t unless every call of the run is in one category,
// killed clients made some of them, and none was lost, duplicated or
// wrong, nor any execution unmatched.
func checkDelivery(t *testing.T, res *Result) {
	t.Helper()
	sum := res.Answered + res.Failed + res.Interrupted + res.Lost + res.Duplicated + res.Wrong
	if res.Calls == 0 || sum != res.Calls || res.KilledClientCalls == 0 || res.Executions == 0 ||
		res.Lost != 0 || res.Duplicated != 0 || res.Wrong != 0 || res.UnmatchedExecutions != 0 {
		t.Fatalf("delivery: %+v", res)
	}
}

// stallAfter lets a server's handler run n times, then blocks it for
// good: no request after the n-th is executed, logged or answered.
func stallAfter(n int) func(handler) handler {
	return func(h handler) handler {
		var ran atomic.Int64
		return func(q *Req, r *Resp) {
			if ran.Add(1) > int64(n) {
				select {}
			}
			h(q, r)
		}
	}
}

// TestKilledClientAccounted: a client killed mid-run has every call it
// made accounted for. The server answers stall requests, then its handler
// blocks: each connection's calls up to then are answered and its next one
// stays in flight (the deadline is an hour). Once the client's live log
// shows exactly that, the client is killed; its log, read after the kill,
// must hold stall answered calls, each executed once, and one call per
// connection interrupted — nothing lost, failed, wrong or duplicated.
func TestKilledClientAccounted(t *testing.T) {
	const conns, stall = 3, 150
	b := newBench(Config{Name: "acct", Dir: t.TempDir(), Conns: conns, Procs: 1, CallTimeout: time.Hour, Logf: t.Logf,
		Spawn: func(env []string) *exec.Cmd { return spawn(append(env, envStall+"="+strconv.Itoa(stall))) }})
	defer b.killAll()
	var err error
	if b.server, _, err = b.startServer(); err != nil {
		t.Fatal(err)
	}
	if err := b.startClient(0); err != nil {
		t.Fatal(err)
	}
	c := b.clients[0]
	for deadline := time.Now().Add(time.Minute); !stalled(c.log.w, conns, stall); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the client's log never showed the stall")
		}
	}
	tKill := now()
	c.kill()
	b.clients[0] = nil
	if err := b.readCalls(c, tKill, true); err != nil {
		t.Fatal(err)
	}
	b.server.kill()
	if err := b.readExecs(b.server); err != nil {
		t.Fatal(err)
	}
	b.server = nil
	res := b.result()
	want := *res
	want.Calls, want.KilledClientCalls, want.Answered, want.Interrupted, want.Executions = stall+conns, stall+conns, stall, conns, stall
	want.Failed, want.FailedPeerGone, want.FailedTimeout, want.FailedOther, want.FailedExecuted = 0, 0, 0, 0, 0
	want.Lost, want.Duplicated, want.Wrong, want.UnmatchedExecutions = 0, 0, 0, 0
	if *res != want {
		t.Fatalf("\n got %+v\nwant %+v", res, want)
	}
}

// stalled reports whether live client log w shows answered calls in all
// and every one of its conns connections with a call in flight.
func stalled(w []uint64, conns, answered int) bool {
	s, err := decodeCalls(w, conns)
	if err != nil {
		return false
	}
	n := 0
	for _, calls := range s.calls {
		if len(calls) == 0 || calls[len(calls)-1] != outcomeInFlight {
			return false
		}
		for _, o := range calls {
			if o == outcomeAnswered {
				n++
			}
		}
	}
	return n == answered
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
