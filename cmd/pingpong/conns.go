package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"text/tabwriter"
	"time"
	"unsafe"

	"github.com/spinwire/spinwire/affinity"
	"github.com/spinwire/spinwire/agent"
	"github.com/spinwire/spinwire/cmd/internal/connbench"
)

// linkServerEnv makes pingpong run as the conns server when cmd/linkecho
// is not next to it.
const linkServerEnv = "PINGPONG_LINKSERVER"

// connsResult is a conns-mode JSON line: the latency schema (result) plus
// the connection figures and the server's memory.
type connsResult struct {
	result
	Conns    int  `json:"conns"`
	Pipeline int  `json:"pipeline"`
	Rotate   bool `json:"rotate,omitempty"`
	Active   int  `json:"active,omitempty"`
	Procs    int  `json:"procs"`    // client processes
	Deferred bool `json:"deferred"` // -defer: every call deferred and answered by another goroutine
	Push     bool `json:"push"`     // -push: every connection takes pushes, one per request
	// With -push: the pushes taken, and their latency from the server's
	// Push to the client's Drain (medians of rounds), in ns.
	Pushes        int   `json:"pushes,omitempty"`
	PushP50       int64 `json:"push_p50_ns,omitempty"`
	PushP99       int64 `json:"push_p99_ns,omitempty"`
	ServerRSSKB   int64 `json:"server_rss_kb"`
	ServerAnonKB  int64 `json:"server_rss_anon_kb"`
	ServerFileKB  int64 `json:"server_rss_file_kb"`
	ServerShmemKB int64 `json:"server_rss_shmem_kb"`
	// ServerBeforeKB is the server's VmRSS with every connection attached,
	// before the load: an attached connection that has carried nothing has
	// no arena pages. The fields above are read at the end of the load,
	// every connection still attached.
	ServerBeforeKB int64   `json:"server_rss_before_load_kb"`
	ServerBinary   string  `json:"server_binary"`
	DialSecondsMax float64 `json:"dial_seconds_max"`
}

// linkServer returns the command that runs the conns server: linkecho next
// to this executable, else this executable re-executed.
func linkServer(args []string) (*exec.Cmd, string) {
	self, _ := os.Executable()
	if le := filepath.Join(filepath.Dir(self), "linkecho"); fileExists(le) {
		return exec.Command(le, args...), "linkecho"
	}
	cmd := exec.Command(self, args...)
	cmd.Env = append(os.Environ(), linkServerEnv+"=1")
	return cmd, "pingpong (no linkecho next to it: its memory includes pingpong's code)"
}

func fileExists(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && !fi.IsDir()
}

// setupProcessModes prepares the modes that run other processes of their
// own (conns, fanout): the runtime settings and the two CPUs.
func setupProcessModes(c *config) error {
	setupRuntime(c)
	allowed, err := affinity.Allowed()
	if err != nil {
		return err
	}
	_, err = chooseCPUs(c, allowed)
	return err
}

// measureConns runs -mode conns: per round, a fresh server process and
// this process driving -conns connections.
func measureConns(c *config, stdout, stderr io.Writer) error {
	if err := setupProcessModes(c); err != nil {
		return err
	}
	if c.Duration == 0 {
		c.Duration = 6 * time.Second
	}
	dir, err := os.MkdirTemp("", "pingpong-conns")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	cfg := connbench.ClientConfig{
		Name: "pp", Dir: dir, Conns: c.Conns, Procs: c.Procs, Pipeline: c.Pipeline, Rotate: c.Rotate, Active: c.Active,
		Warmup: 300 * time.Millisecond, Duration: c.Duration / time.Duration(c.Rounds),
		CPU: c.CPUs[0], Mode: agentMode(c), Timeout: c.Timeout,
	}
	args := []string{"-name", cfg.Name, "-dir", dir, "-cpus", strconv.Itoa(c.CPUs[1]), "-maxconns", strconv.Itoa(max(c.Conns, 4096))}
	if cfg.Mode == agent.Dedicated {
		args = append(args, "-dedicated")
	}
	if c.Defer {
		args = append(args, "-defer")
	}
	if c.Push {
		args = append(args, "-push")
		cfg.Push = true
	}
	var rounds []*connbench.Round
	var binary string
	for r := range c.Rounds {
		var server *exec.Cmd
		server, binary = linkServer(args)
		round, err := connbench.RunWithServer(server, cfg, c.Timeout)
		if err != nil {
			return fmt.Errorf("conns round %d: %w", r+1, err)
		}
		rounds = append(rounds, round)
	}
	out := summariseConns(c, rounds)
	out.ServerBinary = binary
	if c.JSON {
		return json.NewEncoder(stdout).Encode(out)
	}
	return writeConnsTable(stdout, c, out)
}

// summariseConns combines the rounds: medians of the percentiles, the rate
// and the memory figures, the largest max, the overall mean and share over
// 10 µs.
func summariseConns(c *config, rounds []*connbench.Round) connsResult {
	out := connsResult{
		result: result{Transport: "spinwire-link", Mode: "conns", Size: int(unsafe.Sizeof(connbench.Msg{})), CPUs: c.CPUs, Rounds: len(rounds)},
		Conns:  c.Conns, Pipeline: c.Pipeline, Rotate: c.Rotate, Active: c.Active, Procs: c.Procs, Deferred: c.Defer, Push: c.Push}
	med := func(f func(i int) float64) float64 {
		v := make([]float64, len(rounds))
		for i := range rounds {
			v[i] = f(i)
		}
		slices.Sort(v)
		return v[len(v)/2]
	}
	q := func(p float64) int64 {
		return int64(med(func(i int) float64 { return float64(rounds[i].Hist.ValueAtPercentile(100 * p)) }))
	}
	out.P50, out.P90, out.P99, out.P999, out.P9999 = q(0.5), q(0.9), q(0.99), q(0.999), q(0.9999)
	out.MsgsPerSec = med(func(i int) float64 { return rounds[i].PerSec })
	var sum, over float64
	for _, r := range rounds {
		out.N += int(r.Requests)
		out.Max = max(out.Max, r.Hist.Max())
		sum += r.Hist.Mean() * float64(r.Requests)
		over += float64(countAbove(r.Hist, 10_000))
		out.DialSecondsMax = max(out.DialSecondsMax, r.DialSeconds)
	}
	if out.N > 0 {
		out.Mean = sum / float64(out.N)
		out.Over10us = over / float64(out.N)
	}
	out.ServerRSSKB = int64(med(func(i int) float64 { return float64(rounds[i].End.VmRSS) }))
	out.ServerAnonKB = int64(med(func(i int) float64 { return float64(rounds[i].End.RssAnon) }))
	out.ServerFileKB = int64(med(func(i int) float64 { return float64(rounds[i].End.RssFile) }))
	out.ServerShmemKB = int64(med(func(i int) float64 { return float64(rounds[i].End.RssShmem) }))
	out.ServerBeforeKB = int64(med(func(i int) float64 { return float64(rounds[i].Before.VmRSS) }))
	if c.Push {
		for _, r := range rounds {
			out.Pushes += int(r.Pushes)
		}
		out.PushP50 = int64(med(func(i int) float64 { return float64(rounds[i].PushHist.ValueAtPercentile(50)) }))
		out.PushP99 = int64(med(func(i int) float64 { return float64(rounds[i].PushHist.ValueAtPercentile(99)) }))
	}
	return out
}

func writeConnsTable(w io.Writer, c *config, r connsResult) error {
	load := fmt.Sprintf("pipeline %d", r.Pipeline)
	if r.Rotate {
		load = "one call in flight, rotating over the connections"
	}
	if r.Active > 0 {
		load += fmt.Sprintf(", %d active (the others attached, idle)", r.Active)
	}
	if r.Deferred {
		load += ", every call deferred and answered by a replier goroutine"
	}
	if r.Push {
		load += fmt.Sprintf(", every connection taking pushes, one pushed per request: %d taken, p50 %s, p99 %s from Push to Drain",
			r.Pushes, dur(r.PushP50), dur(r.PushP99))
	}
	clients := fmt.Sprintf("one client process (CPU %d)", c.CPUs[0])
	if r.Procs > 1 {
		clients = fmt.Sprintf("%d client processes (the driving one on CPU %d, %d holding theirs idle)", r.Procs, c.CPUs[0], r.Procs-1)
	}
	fmt.Fprintf(w, "# pingpong %s: conns, %d connections, %s; %s, one server poller (CPU %d); %v measured over %d rounds; %d-byte requests and responses\n",
		version(), r.Conns, load, clients, c.CPUs[1], c.Duration, r.Rounds, r.Size)
	fmt.Fprintf(w, "# server: %s; memory read from /proc at the end of the load, every connection attached, and (last column) before the load (median of rounds)\n", r.ServerBinary)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "conns\tpipeline\treq/s\tp50\tp90\tp99\tp99.9\tmax\t>10µs\tserver VmRSS\tRssAnon\tRssFile\tRssShmem\tbefore load\t")
	fmt.Fprintf(tw, "%d\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%.4f%%\t%d kB\t%d kB\t%d kB\t%d kB\t%d kB\t\n", r.Conns, r.Pipeline, rate(r.MsgsPerSec),
		dur(r.P50), dur(r.P90), dur(r.P99), dur(r.P999), dur(r.Max), 100*r.Over10us,
		r.ServerRSSKB, r.ServerAnonKB, r.ServerFileKB, r.ServerShmemKB, r.ServerBeforeKB)
	return tw.Flush()
}
