package connbench

import (
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/spinwire/spinwire/cmd/internal/echo"
)

// serverEnv makes the test binary the echo server (its value: "echo"), or
// a server that says something else than READY ("mute").
const serverEnv = "CONNBENCH_TEST_SERVER"

func TestMain(m *testing.M) {
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
