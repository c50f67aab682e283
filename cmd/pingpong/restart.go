package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/spinwire/spinwire/cmd/internal/restartbench"
)

// restartChild is main in a restart-mode child (server or client).
func restartChild() int {
	if err := restartbench.ChildMain(); err != nil {
		fmt.Fprintln(os.Stderr, "pingpong restart child:", err)
		return 1
	}
	return 0
}

// measureRestart runs -mode restart.
func measureRestart(c *config, stdout, stderr io.Writer) error {
	dir, err := os.MkdirTemp("", "pingpong-restart")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	self, err := os.Executable()
	if err != nil {
		return err
	}
	// Progress in place on a terminal; elsewhere only the closing summary
	// lines (they start with "detect" or "reclaim").
	tty := !c.Quiet && isTerminal(stderr)
	logf := func(format string, args ...any) {
		line := fmt.Sprintf(format, args...)
		switch {
		case tty:
			fmt.Fprint(stderr, "\r\033[K"+line)
		case !c.Quiet && (strings.HasPrefix(line, "detect") || strings.HasPrefix(line, "reclaim")):
			fmt.Fprintln(stderr, "note: "+line)
		}
	}
	res, err := restartbench.Run(restartbench.Config{
		Name: "pp", Dir: dir, Conns: c.Conns, Procs: c.Procs, Trials: c.Trials, ClientKills: c.Trials,
		Think: 1e6, // 1 ms between a connection's calls
		Spawn: func(env []string) *exec.Cmd {
			cmd := exec.Command(self)
			cmd.Env = append(os.Environ(), env...)
			return cmd
		},
		Logf: logf,
	})
	if tty {
		fmt.Fprint(stderr, "\r\033[K")
	}
	if err != nil {
		return err
	}
	var floor *deathFloor
	if c.FloorDir != "" {
		if floor, err = runDeathFloor(c); err != nil {
			return err
		}
	}
	if c.JSON {
		return json.NewEncoder(stdout).Encode(struct {
			*restartbench.Result
			Floor *deathFloor `json:"floor,omitempty"`
		}{res, floor})
	}
	writeRestart(stdout, c, res, floor)
	return nil
}

// writeRestart prints restart mode's report: the header, detection,
// reconnection and reclaim times (with the C floor's beside them when it
// ran), and every call of every client, killed or not, by category.
func writeRestart(w io.Writer, c *config, res *restartbench.Result, floor *deathFloor) {
	fmt.Fprintf(w, "# pingpong %s: restart, %d connections in %d client processes, %d server kills and %d client kills (SIGKILL)\n",
		version(), res.Conns, c.Procs, res.Trials, res.Trials)
	fmt.Fprintf(w, "server death detected by every client within   %8.2f ms p100, %.2f ms p50 (kill → the Conn turns Reconnecting)\n", res.DetectP100Ms, res.DetectP50Ms)
	if floor != nil {
		fmt.Fprintf(w, "  floor (C, %d trials): a killed spinning process seen %8.2f ms p100, %.2f ms p50 on its robust futex word; %.2f ms p100, %.2f ms p50 on its socket\n",
			floor.Trials, floor.SpinFutexP100, floor.SpinFutexP50, floor.SpinSocketP100, floor.SpinSocketP50)
	}
	fmt.Fprintf(w, "clients reconnected and served after restart   %8.2f ms p50, %.2f ms p100 (new server accepting → first reply)\n", res.ReconnectP50Ms, res.ReconnectP100Ms)
	fmt.Fprintf(w, "dead client's slots reclaimed by the server     %8.2f ms p100, %.2f ms p50 (kill → slot free)\n", res.ClientReclaimP100Ms, res.ClientReclaimP50Ms)
	if floor != nil {
		fmt.Fprintf(w, "  floor (C, %d trials): a killed sleeping process seen     %8.2f ms p100, %.2f ms p50 on its robust futex word; %.2f ms p100, %.2f ms p50 on its socket\n",
			floor.Trials, floor.SleepFutexP100, floor.SleepFutexP50, floor.SleepSocketP100, floor.SleepSocketP50)
	}
	// Every call, killed clients' included, is in exactly one of answered,
	// failed, interrupted, lost, duplicated and wrong (restartbench.Result).
	fmt.Fprintf(w, "calls %d (%d by clients later killed): answered %d, failed %d (peer gone %d, timeout %d, other %d; %d of them executed), interrupted by their client's kill %d\n",
		res.Calls, res.KilledClientCalls, res.Answered, res.Failed, res.FailedPeerGone, res.FailedTimeout, res.FailedOther, res.FailedExecuted, res.Interrupted)
	fmt.Fprintf(w, "lost %d, duplicated %d, wrong %d, executions of no call %d (%d executions); leaked fds %d, mappings %d\n",
		res.Lost, res.Duplicated, res.Wrong, res.UnmatchedExecutions, res.Executions, res.LeakedFDs, res.LeakedMaps)
}

// deathFloor is floor_death's report: how soon a C watcher learns of a
// killed process, on this host, in the same run.
type deathFloor struct {
	Trials          int     `json:"trials"`
	Watchers        int     `json:"watchers"`
	SpinFutexP50    float64 `json:"spinning_futex_p50_ms"`
	SpinFutexP100   float64 `json:"spinning_futex_p100_ms"`
	SpinSocketP50   float64 `json:"spinning_socket_p50_ms"`
	SpinSocketP100  float64 `json:"spinning_socket_p100_ms"`
	SleepFutexP50   float64 `json:"sleeping_futex_p50_ms"`
	SleepFutexP100  float64 `json:"sleeping_futex_p100_ms"`
	SleepSocketP50  float64 `json:"sleeping_socket_p50_ms"`
	SleepSocketP100 float64 `json:"sleeping_socket_p100_ms"`
}

// runDeathFloor runs floor_death with as many watchers as client processes
// and up to 50 trials.
func runDeathFloor(c *config) (*deathFloor, error) {
	path := filepath.Join(c.FloorDir, "floor_death")
	var out bytes.Buffer
	cmd := exec.Command(path, "-trials", strconv.Itoa(min(c.Trials, 50)), "-watchers", strconv.Itoa(min(c.Procs, 64)))
	cmd.Stdout, cmd.Stderr = &out, os.Stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("%s: %w (make floor builds it)", path, err)
	}
	var f deathFloor
	if err := json.Unmarshal(bytes.TrimSpace(out.Bytes()), &f); err != nil {
		return nil, fmt.Errorf("%s printed %q: %w", path, out.String(), err)
	}
	return &f, nil
}
