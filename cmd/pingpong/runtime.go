package main

import (
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"syscall"

	"github.com/spinwire/spinwire/agent"
)

// allowReexec is false in unit tests, which must not replace the test binary.
var allowReexec = true

// maybeReexec re-executes pingpong with GODEBUG=asyncpreemptoff=1 when the
// dedicated agent mode needs it and the process did not start with it: the
// runtime reads that setting only at start-up.
func maybeReexec(c *config) (bool, error) {
	if !allowReexec || c.Agent != "dedicated" || agent.AsyncPreemptOff() {
		return false, nil
	}
	self, err := os.Executable()
	if err != nil {
		return true, err
	}
	env := os.Environ()
	godebug := "asyncpreemptoff=1"
	for i, kv := range env {
		if v, ok := strings.CutPrefix(kv, "GODEBUG="); ok {
			env = slices.Delete(env, i, i+1)
			if v != "" {
				godebug = v + "," + godebug
			}
			break
		}
	}
	env = append(env, "GODEBUG="+godebug)
	return true, syscall.Exec(self, append([]string{os.Args[0]}, os.Args[1:]...), env)
}

// setMaxProcs sets GOMAXPROCS explicitly: the run's two spinners, plus two
// Ps for the runtime's own work (docs/go-runtime.md). Each process spins on
// one of them; the rule is kept per host so tuning.Check agrees.
func setMaxProcs() { runtime.GOMAXPROCS(max(runtime.NumCPU(), 2+2)) }

// setupRuntime applies the Go runtime rules for a spinning process: GC off
// with a memory limit as a guard, GOMAXPROCS set explicitly (spinners + 2).
func setupRuntime(*config) {
	debug.SetGCPercent(-1)
	debug.SetMemoryLimit(4 << 30)
	setMaxProcs()
}
