package link

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Cross-process tests re-execute the test binary with LINK_CHILD set.

// TestChildProcess is the child's entry point; it does nothing in a normal run.
func TestChildProcess(t *testing.T) {
	role := os.Getenv("LINK_CHILD")
	if role == "" {
		t.Skip("child process entry point")
	}
	dir := os.Getenv("LINK_DIR")
	switch role {
	case "server": // serve until stdin closes
		s, err := Listen[req, resp]("t", Options{Dir: dir})
		if err != nil {
			fmt.Println("ERR", err)
			os.Exit(1)
		}
		go s.Serve(add)
		fmt.Println("READY")
		io.Copy(io.Discard, os.Stdin)
		s.Close()
		os.Exit(0)
	case "dial": // dial once and print the outcome
		c, err := Dial[req, resp]("t", DialOptions{Dir: dir})
		if err == nil {
			var r resp
			err = c.Call(time.Now().Add(5*time.Second), &req{A: 40, B: 2}, &r)
			if err == nil && r.Sum != 42 {
				err = fmt.Errorf("sum %d", r.Sum)
			}
		}
		fmt.Println("RESULT", err)
		os.Exit(0)
	}
	os.Exit(2)
}

// child starts the test binary in role; its stdout lines come on the
// returned channel. The child is killed when the test ends.
func child(t testing.TB, role, dir string, attr *syscall.SysProcAttr, bin string) (*exec.Cmd, <-chan string, io.WriteCloser) {
	t.Helper()
	if bin == "" {
		bin = os.Args[0]
	}
	cmd := exec.Command(bin, "-test.run=^TestChildProcess$")
	cmd.Env = append(os.Environ(), "LINK_CHILD="+role, "LINK_DIR="+dir)
	cmd.SysProcAttr = attr
	cmd.Stderr = os.Stderr
	stdin, _ := cmd.StdinPipe()
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	lines := make(chan string, 16)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	return cmd, lines, stdin
}

func expectLine(t testing.TB, lines <-chan string, prefix string) string {
	t.Helper()
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("child exited before printing %q", prefix)
			}
			if strings.HasPrefix(l, prefix) {
				return strings.TrimSpace(strings.TrimPrefix(l, prefix))
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("no %q from the child", prefix)
		}
	}
}

// TestCallZeroAllocs proves a Call allocates nothing. The server runs in
// another process: AllocsPerRun sets GOMAXPROCS to 1, which would make an
// in-process poller and the caller take turns.
func TestCallZeroAllocs(t *testing.T) {
	dir := t.TempDir()
	_, lines, _ := child(t, "server", dir, nil, "")
	expectLine(t, lines, "READY")
	c := dial(t, dir)
	q := req{A: 1, B: 2}
	var r resp
	d := time.Now().Add(time.Minute)
	if a := testing.AllocsPerRun(2000, func() {
		if err := c.Call(d, &q, &r); err != nil {
			t.Fatal(err)
		}
	}); a != 0 {
		t.Fatalf("%v allocs per call", a)
	}
}

// TestOtherUIDRefused: a client of another uid is refused at set-up by
// the policy, and accepted when the policy lists it. Needs root, to start
// the child as uid 65534.
func TestOtherUIDRefused(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root to start a client under another uid")
	}
	// The other uid must reach the socket and run the test binary: a
	// world-readable copy and a world-writable directory (test only: the
	// default directory is 0700 and the socket 0600, so other uids do not
	// even reach the policy).
	dir := t.TempDir()
	os.Chmod(filepath.Dir(dir), 0o755) // the test's parent temp directory
	os.Chmod(dir, 0o777)
	bin := filepath.Join(dir, "link.test")
	data, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	cred := &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	for _, c := range []struct {
		policy Policy
		want   string
	}{
		{Policy{}, "permission denied: uid 65534 gid 65534 not allowed"},
		{Policy{UIDs: []uint32{65534}}, "<nil>"},
	} {
		s, err := Listen[req, resp]("t", Options{Dir: dir, Policy: c.policy})
		if err != nil {
			t.Fatal(err)
		}
		go s.Serve(add)
		os.Chmod(filepath.Join(dir, "t.sock"), 0o666)
		_, lines, _ := child(t, "dial", dir, cred, bin)
		got := expectLine(t, lines, "RESULT")
		s.Close()
		if !strings.Contains(got, c.want) {
			t.Fatalf("policy %+v: %q, want %q", c.policy, got, c.want)
		}
	}
}
