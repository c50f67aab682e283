package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/spinwire/spinwire/cmd/internal/restartbench"
)

// TestWriteRestart: restart mode's report names each timing and every
// call category, and the C floor's lines appear only when it ran.
func TestWriteRestart(t *testing.T) {
	c := testConfig("restart")
	c.Procs = 2
	res := &restartbench.Result{Conns: 4, Trials: 3, DetectP100Ms: 1.5, ReconnectP50Ms: 12.25, Calls: 99, KilledClientCalls: 40,
		Answered: 90, Failed: 7, FailedPeerGone: 5, FailedTimeout: 2, FailedExecuted: 1, Interrupted: 2, Executions: 93}
	var b bytes.Buffer
	writeRestart(&b, c, res, nil)
	out := b.String()
	for _, want := range []string{"restart, 4 connections in 2 client processes, 3 server kills", "1.50 ms p100", "12.25 ms p50",
		"slots reclaimed", "calls 99 (40 by clients later killed): answered 90, failed 7 (peer gone 5, timeout 2, other 0; 1 of them executed), interrupted by their client's kill 2",
		"lost 0, duplicated 0, wrong 0, executions of no call 0 (93 executions)"} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "floor") {
		t.Errorf("floor lines without a floor run:\n%s", out)
	}
	b.Reset()
	writeRestart(&b, c, res, &deathFloor{Trials: 7, SpinFutexP100: 0.5, SleepSocketP50: 0.8})
	if n := strings.Count(b.String(), "floor (C, 7 trials)"); n != 2 {
		t.Errorf("%d floor lines, want 2:\n%s", n, b.String())
	}
}
