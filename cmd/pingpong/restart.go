package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"

	"github.com/spinwire/spinwire/internal/restartbench"
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
	// lines (they start with "detect" or "client …: … left").
	tty := !c.Quiet && isTerminal(stderr)
	logf := func(format string, args ...any) {
		switch {
		case tty:
			fmt.Fprintf(stderr, "\r\033[K"+format, args...)
		case !c.Quiet && strings.HasPrefix(format, "detect"):
			fmt.Fprintf(stderr, "note: "+format+"\n", args...)
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
	if c.JSON {
		return json.NewEncoder(stdout).Encode(res)
	}
	fmt.Fprintf(stdout, "# pingpong %s: restart, %d connections in %d client processes, %d server kills and %d client kills (SIGKILL)\n",
		version(), res.Conns, c.Procs, res.Trials, res.Trials)
	fmt.Fprintf(stdout, "server death detected by every client within   %8.2f ms (p100: kill → death watch)\n", res.DetectP100Ms)
	fmt.Fprintf(stdout, "clients reconnected and served after restart   %8.2f ms p50, %.2f ms p100 (new server accepting → first reply)\n", res.ReconnectP50Ms, res.ReconnectP100Ms)
	fmt.Fprintf(stdout, "dead client's slots reclaimed by the server     %8.2f ms (p100: kill → slot free)\n", res.ClientReclaimP100Ms)
	fmt.Fprintf(stdout, "calls %d: lost %d, duplicated %d, wrong %d; leaked fds %d, mappings %d\n",
		res.Calls, res.Lost, res.Duplicated, res.Wrong, res.LeakedFDs, res.LeakedMaps)
	return nil
}
