package connbench

import (
	"cmp"
	"fmt"
	"io"
	"os"
	"os/exec"
	"time"
)

// Round is one round against a server process of its own: the client's
// result and the server's memory, every connection attached, before the
// load and at its end.
type Round struct {
	*Result
	Before, End Memory
}

// settle is how long RunWithServer lets the server finish setting up the
// connections before it reads the server's memory the first time.
const settle = 100 * time.Millisecond

// RunWithServer starts server — a command that prints "READY" once it
// accepts connections and exits when its standard input closes, as
// cmd/linkecho does — waits up to ready for it, runs cfg against it,
// reading the server's memory before the load and at its end, and stops
// the server (killing it if it has not exited 5 s after its stdin closed).
// cfg.Attached and cfg.Finished are its own.
func RunWithServer(server *exec.Cmd, cfg ClientConfig, ready time.Duration) (*Round, error) {
	stdin, err := server.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := server.StdoutPipe()
	if err != nil {
		return nil, err
	}
	server.Stderr = os.Stderr
	if err := server.Start(); err != nil {
		return nil, err
	}
	defer stop(server, stdin)
	if err := awaitReady(out, ready); err != nil {
		return nil, err
	}
	var r Round
	var beforeErr, endErr error
	cfg.Attached = func() {
		time.Sleep(settle)
		r.Before, beforeErr = ReadMemory(server.Process.Pid)
	}
	cfg.Finished = func() { r.End, endErr = ReadMemory(server.Process.Pid) }
	if r.Result, err = Run(cfg); err != nil {
		return nil, err
	}
	if err := cmp.Or(beforeErr, endErr); err != nil {
		return nil, fmt.Errorf("server memory: %w", err)
	}
	return &r, nil
}

// awaitReady waits up to d for the server's "READY" line, then discards
// the rest of its output.
func awaitReady(out io.Reader, d time.Duration) error {
	if err := awaitLine(out, "READY", d); err != nil {
		return fmt.Errorf("server: %w", err)
	}
	return nil
}

// stop closes the server's stdin, its signal to exit, and reaps it,
// killing it after 5 s.
func stop(server *exec.Cmd, stdin io.Closer) {
	stdin.Close()
	done := make(chan struct{})
	go func() { server.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		server.Process.Kill()
		<-done
	}
}
