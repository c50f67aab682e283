package link

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/spinwire/spinwire/agent"
)

// cleanedUp fails the test unless s's socket and lock files are gone and
// every poller has stopped.
func cleanedUp(t *testing.T, s *Server[req, resp], dir, when string) {
	t.Helper()
	for _, f := range []string{"t.sock", "t.lock"} {
		if _, err := os.Stat(filepath.Join(dir, f)); !os.IsNotExist(err) {
			t.Errorf("%s: %s still there (%v)", when, f, err)
		}
	}
	for i, p := range s.pollers {
		if p.running.Load() {
			t.Errorf("%s: poller %d still running", when, i)
		}
	}
}

// TestServeReturnsAfterCleanup: Serve returns only once the server is
// cleaned up — when Close stops it, when Close came first, and when a
// poller fails (the handler panics), where Serve closes the server itself.
func TestServeReturnsAfterCleanup(t *testing.T) {
	t.Run("close", func(t *testing.T) {
		dir := t.TempDir()
		s, err := Listen[req, resp]("t", Options{Dir: dir})
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- s.Serve(add) }()
		c := dial(t, dir)
		var r resp
		if err := c.Call(time.Now().Add(5*time.Second), &req{A: 1, B: 2}, &r); err != nil || r.Sum != 3 {
			t.Fatalf("call: %v %+v", err, r)
		}
		go s.Close()
		if err := <-done; err != nil {
			t.Fatalf("Serve after Close: %v", err)
		}
		cleanedUp(t, s, dir, "Serve returned")
		if err := s.Close(); !errors.Is(err, ErrClosed) {
			t.Fatalf("second Close: %v", err)
		}
	})
	t.Run("close_first", func(t *testing.T) {
		dir := t.TempDir()
		s, err := Listen[req, resp]("t", Options{Dir: dir})
		if err != nil {
			t.Fatal(err)
		}
		go s.Close()
		if err := s.Serve(add); err != nil && !errors.Is(err, ErrClosed) {
			t.Fatalf("Serve racing Close: %v", err)
		}
		cleanedUp(t, s, dir, "Serve returned")
	})
	t.Run("handler_panics", func(t *testing.T) {
		dir := t.TempDir()
		s, err := Listen[req, resp]("t", Options{Dir: dir})
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- s.Serve(func(*req, *resp) { panic("kaput") }) }()
		c := dial(t, dir)
		var r resp
		if err := c.Call(time.Now().Add(10*time.Second), &req{}, &r); !errors.Is(err, ErrPeerGone) {
			t.Fatalf("call to a failing server: %v", err)
		}
		if err := <-done; !errors.Is(err, agent.ErrPanic) {
			t.Fatalf("Serve after a panic: %v", err)
		}
		cleanedUp(t, s, dir, "Serve returned")
		if err := s.Close(); !errors.Is(err, ErrClosed) {
			t.Fatalf("Close after Serve closed: %v", err)
		}
	})
}
