package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"runtime/debug"
	"strconv"
	"syscall"

	"github.com/spinwire/spinwire/affinity"
)

// The peer is this binary re-executed with peerEnv set to the JSON of a
// peerSpec; its transport files arrive as fds 3, 4, ….
const peerEnv = "PINGPONG_PEER"

type peerSpec struct {
	Transport string  `json:"transport"`
	Config    *config `json:"config"`
	Files     int     `json:"files"`
}

// startPeer runs the peer for transport t with files. The peer is killed
// by the kernel if this process dies (PR_SET_PDEATHSIG from the main
// thread, which init locks, so the signal is never sent early).
func startPeer(name string, c *config, files []*os.File) (*exec.Cmd, error) {
	spec, err := json.Marshal(peerSpec{Transport: name, Config: c, Files: len(files)})
	if err != nil {
		return nil, err
	}
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self)
	cmd.Env = append(os.Environ(), peerEnv+"="+string(spec))
	cmd.ExtraFiles = files
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start peer: %w", err)
	}
	return cmd, nil
}

// peerMain is main in the peer process.
func peerMain() int {
	var spec peerSpec
	if err := json.Unmarshal([]byte(os.Getenv(peerEnv)), &spec); err != nil || spec.Config == nil {
		fmt.Fprintln(os.Stderr, "pingpong peer: bad", peerEnv, err)
		return 2
	}
	t, ok := transports[spec.Transport]
	if !ok || spec.Files < 0 || spec.Files > 16 {
		fmt.Fprintln(os.Stderr, "pingpong peer: bad transport", strconv.Quote(spec.Transport))
		return 2
	}
	setupRuntime(spec.Config)
	files := make([]*os.File, spec.Files)
	for i := range files {
		files[i] = os.NewFile(uintptr(3+i), "peer-"+strconv.Itoa(i))
	}
	if err := t.serve(spec.Config, files); err != nil {
		fmt.Fprintf(os.Stderr, "pingpong peer %s: %v\n", spec.Transport, err)
		return 1
	}
	return 0
}

// pinPeer pins the calling goroutine's thread to the peer's CPU.
func pinPeer(c *config) error {
	_, err := affinity.Pin(c.CPUs[1])
	return err
}

// setupRuntime applies the Go runtime rules for a spinning process: GC off
// with a memory limit as a guard, GOMAXPROCS set explicitly (spinners + 2).
func setupRuntime(c *config) {
	debug.SetGCPercent(-1)
	debug.SetMemoryLimit(4 << 30)
	setMaxProcs()
}
