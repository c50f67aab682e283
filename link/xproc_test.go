package link

import (
	"bufio"
	"cmp"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
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
	dir, name := os.Getenv("LINK_DIR"), os.Getenv("LINK_NAME")
	if name == "" {
		name = "t"
	}
	n, _ := strconv.Atoi(os.Getenv("LINK_N"))
	switch role {
	case "server": // serve until stdin closes; LINK_ADMIT: a uid to admit
		var policy Policy
		if uid, err := strconv.ParseUint(os.Getenv("LINK_ADMIT"), 10, 32); err == nil {
			policy.UIDs = []uint32{uint32(uid)}
		}
		s, err := Listen[req, resp](name, Options{Dir: dir, Policy: policy})
		if err != nil {
			fmt.Println("ERR", err)
			os.Exit(1)
		}
		go s.Serve(add)
		fmt.Println("READY")
		io.Copy(io.Discard, os.Stdin)
		s.Close()
	case "dial": // dial, make max(n, 1) calls and print the outcome
		fmt.Println("RESULT", childCalls(dir, name, max(n, 1)))
	case "hold": // dial n connections, print how many attached and the first error, hold them until stdin closes
		var conns []*Conn[req, resp]
		var first error
		for range n {
			c, err := Dial[req, resp](name, DialOptions{Dir: dir})
			if err != nil {
				first = cmp.Or(first, err)
				continue
			}
			conns = append(conns, c)
		}
		fmt.Println("HELD", len(conns), first)
		io.Copy(io.Discard, os.Stdin)
		for _, c := range conns {
			c.Close()
		}
	default:
		if !hostileChild(role, dir, name, n) {
			os.Exit(2)
		}
	}
	os.Exit(0)
}

// childCalls dials name and makes n calls, checking each response.
func childCalls(dir, name string, n int) error {
	c, err := Dial[req, resp](name, DialOptions{Dir: dir})
	if err != nil {
		return err
	}
	defer c.Close()
	for i := range int64(n) {
		var r resp
		err = c.Call(time.Now().Add(5*time.Second), &req{A: 40, B: i, Seq: uint64(i)}, &r)
		if err == nil && (r.Sum != 40+i || r.Seq != uint64(i)) {
			err = fmt.Errorf("call %d: %+v", i, r)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// child starts the test binary in role; its stdout lines come on the
// returned channel. The child is killed when the test ends.
func child(t testing.TB, role, dir string, attr *syscall.SysProcAttr, bin string) (*exec.Cmd, <-chan string, io.WriteCloser) {
	t.Helper()
	return childEnv(t, role, attr, bin, "LINK_DIR="+dir)
}

// childEnv starts the test binary in role with env added (LINK_DIR,
// LINK_NAME, LINK_N…), as bin (the test binary when ""), with attr.
func childEnv(t testing.TB, role string, attr *syscall.SysProcAttr, bin string, env ...string) (*exec.Cmd, <-chan string, io.WriteCloser) {
	t.Helper()
	if bin == "" {
		bin = os.Args[0]
	}
	cmd := exec.Command(bin, "-test.run=^TestChildProcess$")
	cmd.Env = append(append(os.Environ(), "LINK_CHILD="+role), env...)
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
			if after, ok0 := strings.CutPrefix(l, prefix); ok0 {
				return strings.TrimSpace(after)
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("no %q from the child", prefix)
		}
	}
}

// TestCallZeroAllocs proves a Call, and a Send with its Poll, allocate
// nothing. The server runs in
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
	// Send and Poll, the pipelined path, allocate nothing either.
	if a := testing.AllocsPerRun(2000, func() {
		if _, err := c.Send(&q); err != nil {
			t.Fatal(err)
		}
		for n := 0; n == 0; {
			var err error
			if n, err = c.Poll(0, func(uint64, *resp) {}); err != nil {
				t.Fatal(err)
			}
		}
	}); a != 0 {
		t.Fatalf("%v allocs per Send and Poll", a)
	}
}
