package main

import (
	"bytes"
	"encoding/json"

	"github.com/spinwire/spinwire/cmd/internal/connbench"
	"github.com/spinwire/spinwire/cmd/internal/echo"
	"github.com/spinwire/spinwire/cmd/internal/fanout"
	"github.com/spinwire/spinwire/cmd/internal/restartbench"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestMain lets the test binary be pingpong's peer: run, called in
// process, re-executes os.Executable() — this binary — for the other side.
func TestMain(m *testing.M) {
	if os.Getenv(peerEnv) != "" {
		os.Exit(peerMain())
	}
	if restartbench.Role() != "" {
		os.Exit(restartChild())
	}
	connbench.HoldIfAsked()
	fanout.ChildIfAsked()
	if os.Getenv(linkServerEnv) != "" {
		os.Exit(echo.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
	}
	allowReexec = false
	setMaxProcs() // as the command does: spinners + 2 Ps
	code := m.Run()
	if statDirMade != "" {
		os.RemoveAll(statDirMade)
	}
	os.Exit(code)
}

// runArgs calls run and returns its status and outputs.
func runArgs(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	// The command runs on its main thread, which init locks; a peer dies
	// with the thread that started it (PR_SET_PDEATHSIG), so run on a
	// locked thread that outlives every peer (and then exits with the
	// goroutine, never returning to the pool).
	done := make(chan int)
	go func() {
		runtime.LockOSThread()
		done <- run(args, &out, &errb)
	}()
	code := <-done
	return code, out.String(), errb.String()
}

// testConfig is a small in-process config: no pinning (CPUs -1), a
// preemptible agent (the test binary does not run with asyncpreemptoff).
func testConfig(mode string) *config {
	return &config{
		Mode: mode, N: 400, Rounds: 1, Warmup: 50, Size: 64, CPUs: [2]int{-1, -1},
		Agent: "preemptible", Slots: 64, Batch: 4, Timeout: 10 * time.Second, Rate: 50_000,
	}
}

// jsonLines decodes out's non-empty lines, one T each, failing the test
// unless there are exactly want of them.
func jsonLines[T any](t *testing.T, out string, want int) []T {
	t.Helper()
	ls := lines(out)
	if len(ls) != want {
		t.Fatalf("%d JSON lines, want %d:\n%s", len(ls), want, out)
	}
	rs := make([]T, len(ls))
	for i, l := range ls {
		if err := json.Unmarshal([]byte(l), &rs[i]); err != nil {
			t.Fatal(err)
		}
	}
	return rs
}

// lines splits output into its non-empty lines.
func lines(s string) []string {
	var out []string
	for l := range strings.SplitSeq(s, "\n") {
		if strings.TrimSpace(l) != "" {
			out = append(out, l)
		}
	}
	return out
}
