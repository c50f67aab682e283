package link

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestDialNoServer: Dial to a name no server listens on — no socket file,
// or a dead server's socket that nobody accepts on — fails with
// ErrNoServer, naming the name and the socket and saying what to do.
func TestDialNoServer(t *testing.T) {
	dir := t.TempDir()
	check := func(what string, err error, want ...string) {
		t.Helper()
		if !errors.Is(err, ErrNoServer) {
			t.Fatalf("%s: %v, want ErrNoServer", what, err)
		}
		for _, w := range append(want, `"t"`, filepath.Join(dir, "t.sock"), "link.Listen", "DialOptions.WaitServer") {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: %q does not say %q", what, err, w)
			}
		}
	}
	_, err := Dial[req, resp]("t", DialOptions{Dir: dir})
	check("no socket file", err)
	if !errors.Is(err, ErrPeerGone) {
		t.Errorf("no server is also a peer gone: %v", err)
	}
	// A socket file nobody accepts on, as a killed server leaves it.
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if err := unix.Bind(fd, &unix.SockaddrUnix{Name: filepath.Join(dir, "t.sock")}); err != nil {
		t.Fatal(err)
	}
	_, err = Dial[req, resp]("t", DialOptions{Dir: dir})
	check("socket without a listener", err)
	_, err = Dial[req, resp]("t", DialOptions{Dir: dir, WaitServer: 5 * time.Millisecond})
	check("waited", err, "within 5ms")
}

// TestDialWaitsForServer: with DialOptions.WaitServer, Dial waits for a
// server that starts after it began, and returns a working Conn. The server
// starts once Dial has found none three times.
func TestDialWaitsForServer(t *testing.T) {
	dir := t.TempDir()
	waits := make(chan struct{}, 3)
	waitServerHook = func() {
		select {
		case waits <- struct{}{}:
		default:
		}
	}
	defer func() { waitServerHook = nil }()
	type dialed struct {
		c   *Conn[req, resp]
		err error
	}
	done := make(chan dialed, 1)
	go func() {
		c, err := Dial[req, resp]("t", DialOptions{Dir: dir, WaitServer: 20 * time.Second})
		done <- dialed{c, err}
	}()
	for range 3 {
		<-waits
	}
	serve(t, Options{Dir: dir})
	d := <-done
	if d.err != nil {
		t.Fatal(d.err)
	}
	defer d.c.Close()
	var r resp
	if err := d.c.Call(time.Now().Add(5*time.Second), &req{A: 40, B: 2}, &r); err != nil || r.Sum != 42 {
		t.Fatalf("call after waiting: %v %+v", err, r)
	}
}
