package connbench

import (
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/spinwire/spinwire/cmd/internal/echo"
	"github.com/spinwire/spinwire/link"
)

// serverEnv makes the test binary the echo server (its value: "echo"), or
// a server that says something else than READY ("mute").
const serverEnv = "CONNBENCH_TEST_SERVER"

func TestMain(m *testing.M) {
	HoldIfAsked()
	switch os.Getenv(serverEnv) {
	case "echo":
		os.Exit(echo.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
	case "mute":
		io.WriteString(os.Stdout, "NOT READY\n")
		io.Copy(io.Discard, os.Stdin)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func testServer(kind string, args ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), serverEnv+"="+kind)
	return cmd
}

// TestRunWithServer: a round against a server process of its own reads
// the server's memory before the load and at its end, and stops the
// server; a server that does not say READY fails the round.
func TestRunWithServer(t *testing.T) {
	dir := t.TempDir()
	cfg := ClientConfig{Name: "s", Dir: dir, Conns: 20, Pipeline: 1, Warmup: 10 * time.Millisecond,
		Duration: 50 * time.Millisecond, CPU: -1, Timeout: 5 * time.Second}
	server := testServer("echo", "-name", "s", "-dir", dir, "-maxconns", "64")
	r, err := RunWithServer(server, cfg, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if r.Requests == 0 || r.Before.VmRSS == 0 || r.End.VmRSS == 0 || r.End.RssAnon == 0 {
		t.Fatalf("%+v", r)
	}
	if server.ProcessState == nil || !server.ProcessState.Exited() {
		t.Fatalf("server not reaped: %v", server.ProcessState)
	}
	if _, err := RunWithServer(testServer("mute"), cfg, 10*time.Second); err == nil || !strings.Contains(err.Error(), "NOT READY") {
		t.Fatalf("a mute server: %v", err)
	}
}

// TestHolders: Procs spreads the connections over client processes — the
// holders dial their share and keep it attached, an arena each on the
// server, until they are stopped — and a run with Procs drives its own
// share.
func TestHolders(t *testing.T) {
	dir := t.TempDir()
	s, err := link.Listen[Msg, Resp]("h", link.Options{Dir: dir, MaxConns: 64})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	go s.Serve(func(q *Msg, r *Resp) { r.Seq, r.Stamp = q.Seq, q.Stamp })
	hs, err := startHolders(ClientConfig{Name: "h", Dir: dir}, 3, 4, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if st := s.Stats(); len(hs) != 2 || st.Conns != 8 || st.Procs != 2 {
		t.Fatalf("%d holders; server %+v", len(hs), st)
	}
	stopHolders(hs)
	for deadline := time.Now().Add(5 * time.Second); s.Stats().Conns != 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("holders stopped, server %+v", s.Stats())
		}
	}
	// Long enough that a host busy with other tests still answers within
	// it (with 50 ms, one CPU shared with go test's other packages once
	// measured no request at all).
	cfg := ClientConfig{Name: "h", Dir: dir, Conns: 10, Procs: 3, Pipeline: 1, Warmup: 10 * time.Millisecond,
		Duration: 500 * time.Millisecond, CPU: -1, Timeout: 5 * time.Second}
	var attached link.ServerStats
	cfg.Attached = func() { attached = s.Stats() }
	r, err := Run(cfg)
	if err != nil || r.Requests == 0 || attached.Conns != 10 || attached.Procs != 3 {
		t.Fatalf("run: %v %+v; attached %+v", err, r, attached)
	}
	if _, err := startHolders(ClientConfig{Name: "nothing", Dir: dir}, 2, 1, 10*time.Second); err == nil {
		t.Fatal("a holder that cannot dial: no error")
	}
}
