package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spinwire/spinwire/affinity"
	"github.com/spinwire/spinwire/stat"
)

// twoCPUs returns two CPUs this process may pin to, or skips.
func twoCPUs(t *testing.T) string {
	t.Helper()
	allowed, err := affinity.Allowed()
	if err != nil || len(allowed) < 2 {
		t.Skipf("needs two CPUs to pin the two peers to (allowed: %v)", allowed)
	}
	return fmt.Sprintf("%d,%d", allowed[len(allowed)-2], allowed[len(allowed)-1])
}

// TestRun: the command in process, its peers real processes (this test
// binary re-executed): every round's CPUs checked, the table or JSON
// printed, the artefacts written.
func TestRun(t *testing.T) {
	cpus := twoCPUs(t)
	dir := t.TempDir()
	code, out, errs := runArgs(t, "-transport", "raw,uds,futex", "-n", "3000", "-warmup", "200", "-agent", "preemptible",
		"-cpus", cpus, "-json", "-out", dir, "-hgrm", filepath.Join(dir, "h"), "-plot", filepath.Join(dir, "p.png"))
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	for i, r := range jsonLines[result](t, out, 3) {
		// P50 may be 0 where the clock ticks coarser than a round trip
		// (arm64's generic timer can; an emulator's counts microseconds).
		if r.Transport != []string{"raw", "uds", "futex"}[i] || r.N != 3000 || r.Rounds != 3 || r.P50 < 0 || r.P50 > r.P99 || r.P99 > r.Max || r.Max <= 0 {
			t.Errorf("line %d: %+v", i, r)
		}
		for _, w := range r.Warnings {
			if strings.Contains(w, "CPU not reported") {
				t.Errorf("%s: %s", r.Transport, w)
			}
		}
	}
	for _, f := range []string{"table.txt", "results.json", "raw.hgrm", "uds.hgrm", "futex.hgrm", "latency.svg", "latency.png", "h/uds.hgrm", "p.png"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Error(err)
		}
	}
	table, _ := os.ReadFile(filepath.Join(dir, "table.txt"))
	for _, want := range []string{"# CPUs checked at the start and end of every round", "× spinwire", "# how each transport"} {
		if !strings.Contains(string(table), want) {
			t.Errorf("table.txt lacks %q:\n%s", want, table)
		}
	}
}

// TestRun_modes: throughput and rate through the command, with notes
// for the transports that lack the mode.
func TestRun_modes(t *testing.T) {
	cpus := twoCPUs(t)
	code, out, errs := runArgs(t, "-transport", "raw,pipe", "-mode", "throughput", "-n", "30000", "-batch", "8", "-agent", "preemptible", "-cpus", cpus)
	if code != 0 || !strings.Contains(errs, "note: transport raw has no throughput mode") || !strings.Contains(out, "msgs/s") {
		t.Errorf("throughput: exit %d\n%s\n%s", code, out, errs)
	}
	code, out, errs = runArgs(t, "-transport", "spinwire", "-mode", "throughput", "-protocol", "records", "-n", "30000", "-batch", "8", "-agent", "preemptible", "-cpus", cpus, "-quiet")
	if code != 0 || !strings.Contains(out, "spin.Records[[7]uint64]") || !strings.Contains(out, "msgs/s") {
		t.Errorf("throughput, -protocol records: exit %d\n%s\n%s", code, out, errs)
	}
	code, out, errs = runArgs(t, "-transport", "uds-net,eventfd", "-rate", "20000", "-n", "2000", "-rounds", "2", "-warmup", "100", "-agent", "preemptible", "-cpus", cpus, "-quiet")
	if code != 0 || !strings.Contains(out, "replies/s") || !strings.Contains(out, "eventfd") || errs != "" {
		t.Errorf("rate: exit %d\n%s\n%s", code, out, errs)
	}
}

// TestFanoutMode: the topic and its ring baseline through the command,
// in a table and as JSON with the fields.
func TestFanoutMode(t *testing.T) {
	cpus := twoCPUs(t)
	code, out, errs := runArgs(t, "-mode", "fanout", "-subs", "3", "-procs", "2", "-policy", "reliable", "-msgs", "20000", "-paced", "200", "-rounds", "1", "-cpus", cpus, "-json")
	var r fanoutResult
	if code != 0 || json.Unmarshal([]byte(out), &r) != nil || r.Subs != 3 || r.Procs != 2 || r.Policy != "reliable" || r.Lost != 0 || r.MsgsPerSec <= 0 || r.RingMsgsPerSec <= 0 || r.P50 <= 0 {
		t.Fatalf("exit %d: %q %s %+v", code, out, errs, r)
	}
	code, out, _ = runArgs(t, "-mode", "fanout", "-subs", "2", "-msgs", "1000", "-paced", "10", "-rounds", "1", "-cpus", cpus)
	if code != 0 || !strings.Contains(out, "topic, 2 subscriptions") || !strings.Contains(out, "spin.Ring, 1 consumer") {
		t.Fatalf("table:\n%s", out)
	}
	if code, _, _ := runArgs(t, "-mode", "fanout", "-subs", "2", "-procs", "3"); code != 2 {
		t.Fatalf("-procs beyond -subs: exit %d", code)
	}
}

// statDir is TestStat's registry directory, one per test binary: the
// process makes its registry once (statRegistry), where the first run
// put it, so a second run (-count) must look there too. TestMain removes
// it (statDirMade).
var (
	statDir = sync.OnceValues(func() (string, error) {
		d, err := os.MkdirTemp("", "pingpong-stat")
		statDirMade = d
		return d, err
	})
	statDirMade string
)

// TestStat: with -stat the rings are published in the registry while they
// run and taken out before they are unmapped; the run is unchanged.
func TestStat(t *testing.T) {
	cpus := twoCPUs(t)
	sd, err := statDir()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("XDG_RUNTIME_DIR", sd)
	code, out, errs := runArgs(t, "-stat", "-transport", "spinwire", "-mode", "throughput", "-n", "30000", "-rounds", "2", "-agent", "preemptible", "-cpus", cpus, "-quiet")
	if code != 0 || !strings.Contains(out, "msgs/s") {
		t.Fatalf("exit %d\n%s\n%s", code, out, errs)
	}
	dir, err := stat.DefaultDir()
	if err != nil {
		t.Fatal(err)
	}
	ps, err := stat.Scan(dir)
	if err != nil || len(ps) != 1 || ps[0].PID != uint32(os.Getpid()) || len(ps[0].Endpoints) != 0 {
		t.Fatalf("after the run: %v %+v", err, ps)
	}
}

// TestCheck/checks_only: -check prints the host's findings for the CPUs
// and exits 0 without measuring anything, with the Makefile's -floor and
// the older -transport none as well; -json prints one object per finding;
// a CPU it may not use is an error.
func TestCheck(t *testing.T) {
	cpus := twoCPUs(t)
	for _, args := range [][]string{
		{"-check", "-cpus", cpus, "-agent", "preemptible"},
		{"-check", "-cpus", cpus, "-agent", "preemptible", "-floor", t.TempDir(), "-transport", "none", "-quiet"},
	} {
		code, out, errs := runArgs(t, args...)
		if code != 0 || !strings.HasPrefix(out, "SEVERITY") || !strings.Contains(out, "fix:") {
			t.Errorf("%q: exit %d\n%s\n%s", args, code, out, errs)
		}
		for _, measured := range []string{"# pingpong", "rt/s", "p50"} {
			if strings.Contains(out, measured) {
				t.Errorf("%q measured something: %q in\n%s", args, measured, out)
			}
		}
	}
	code, out, _ := runArgs(t, "-check", "-json", "-cpus", cpus, "-agent", "preemptible", "-quiet")
	if code != 0 || len(lines(out)) == 0 {
		t.Errorf("-check -json: exit %d, %q", code, out)
	}
	for _, l := range lines(out) {
		var f map[string]any
		if err := json.Unmarshal([]byte(l), &f); err != nil || f["id"] == nil || f["severity"] == nil {
			t.Errorf("-check -json line %q: %v", l, err)
		}
	}
	if code, _, errs := runArgs(t, "-check", "-cpus", "0,4095", "-agent", "preemptible"); code != 2 || !strings.Contains(errs, "-cpus") {
		t.Errorf("-check on a CPU not allowed: exit %d, %s", code, errs)
	}
}

// TestRun_floor: -floor runs the floor program in the same rounds and
// takes its JSON line (here a stand-in script that prints one).
func TestRun_floor(t *testing.T) {
	cpus := twoCPUs(t)
	dir := t.TempDir()
	script := "#!/bin/sh\necho '{\"transport\":\"floor-c\",\"mode\":\"latency\",\"size\":8,\"n\":10000,\"cpus\":[0,1],\"p50_ns\":120,\"p90_ns\":130,\"p99_ns\":200,\"p999_ns\":900,\"p9999_ns\":4000,\"max_ns\":9000,\"mean_ns\":125.5,\"over_10us\":0.0001,\"msgs_per_sec\":8000000}'\n"
	if err := os.WriteFile(filepath.Join(dir, "floor_pingpong"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	code, out, errs := runArgs(t, "-transport", "raw", "-n", "1000", "-rounds", "1", "-agent", "preemptible", "-cpus", cpus, "-floor", dir, "-plot", filepath.Join(dir, "p.svg"))
	if code != 0 || !strings.Contains(out, "floor-c") || !strings.Contains(out, "120ns") || !strings.Contains(errs, "floor-c reports only its summary") {
		t.Errorf("exit %d\n%s\n%s", code, out, errs)
	}
	os.WriteFile(filepath.Join(dir, "floor_pingpong"), []byte("#!/bin/sh\necho nonsense\n"), 0o755)
	if code, _, errs := runArgs(t, "-transport", "raw", "-n", "1000", "-rounds", "1", "-agent", "preemptible", "-cpus", cpus, "-floor", dir); code != 1 || !strings.Contains(errs, "nonsense") {
		t.Errorf("a floor that prints nonsense: exit %d, %s", code, errs)
	}
	if code, _, errs := runArgs(t, "-transport", "raw", "-rate", "10000", "-n", "1000", "-rounds", "1", "-agent", "preemptible", "-cpus", cpus, "-floor", dir); code != 0 || !strings.Contains(errs, "no rate mode") {
		t.Errorf("-floor in rate mode: exit %d, %s", code, errs)
	}
}

// failT is a transport whose peer fails: the round reports the peer's
// words, and the watchdog ends the parent's wait.
type failT struct{ rawT }

func (failT) serve(c *config, files []*os.File) error { return errors.New("deliberate failure") }

// Registered in both processes; listed (so -transport takes it) only by
// the test that uses it.
func init() { register("test-fail", failT{}) }

func TestRun_peer_fails(t *testing.T) {
	cpus := twoCPUs(t)
	transportNames = append(transportNames, "test-fail")
	defer func() {
		transportNames = slices.DeleteFunc(transportNames, func(s string) bool { return s == "test-fail" })
	}()
	start := time.Now()
	code, _, errs := runArgs(t, "-transport", "test-fail", "-n", "3000", "-agent", "preemptible", "-cpus", cpus)
	if code != 1 || !strings.Contains(errs, "test-fail, round 1") || !strings.Contains(errs, "exit status 1") {
		t.Errorf("exit %d: %s", code, errs)
	}
	if time.Since(start) > 20*time.Second {
		t.Errorf("took %v to notice", time.Since(start))
	}
}

// TestEndToEnd: the built command, as a user runs it:
// `pingpong -transport all -n 20000 -json`, every line checked.
func TestEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the command for about 20 s")
	}
	twoCPUs(t)
	bin := filepath.Join(t.TempDir(), "pingpong")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "-transport", "all", "-n", "20000", "-json")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr.String())
	}
	ls := lines(string(out))
	if len(ls) != len(transportNames) {
		t.Fatalf("%d lines for %d transports:\n%s", len(ls), len(transportNames), out)
	}
	for i, l := range ls {
		dec := json.NewDecoder(strings.NewReader(l))
		dec.DisallowUnknownFields()
		var r result
		if err := dec.Decode(&r); err != nil {
			t.Fatalf("line %d: %v: %s", i, err, l)
		}
		name := transportNames[i]
		ok := r.Transport == name && r.Mode == "latency" && r.Size == 64 && r.Rounds == 3 && r.CPUs[0] != r.CPUs[1] &&
			r.P50 > 0 && r.P50 <= r.P90 && r.P90 <= r.P99 && r.P99 <= r.P999 && r.P999 <= r.P9999 && r.P9999 <= r.Max &&
			r.Mean > 0 && r.Over10us >= 0 && r.Over10us <= 1 && r.MsgsPerSec > 0 && r.Options.Path != "" && r.Options.Wait != ""
		short := slices.ContainsFunc(r.Warnings, func(w string) bool { return strings.Contains(w, "-limit") })
		if r.N != 20000 && !(short && r.N > 0 && r.N < 20000) {
			ok = false
		}
		if strings.HasPrefix(name, "spinwire") && (r.Options.Agent != "dedicated" || r.Options.Idle == "") {
			ok = false
		}
		if !ok {
			t.Errorf("line %d (%s): %s", i, name, l)
		}
		for _, w := range r.Warnings {
			if strings.Contains(w, "CPU") {
				t.Logf("%s: %s", name, w) // a busy host may move a thread: reported, not a failure
			}
		}
	}
	if !strings.Contains(stderr.String(), "warning") && runtime.NumCPU() <= 2 {
		t.Errorf("no host warnings on a %d-CPU host: %s", runtime.NumCPU(), stderr.String())
	}
}

func TestConnsMode(t *testing.T) {
	if _, err := os.Stat("/proc/self/status"); err != nil {
		t.Skip("needs /proc")
	}
	for _, args := range [][]string{
		{"-conns", "20", "-duration", "150ms", "-rounds", "1", "-cpus", "0,0", "-agent", "preemptible"},
		{"-conns", "20", "-active", "2", "-duration", "150ms", "-rounds", "1", "-cpus", "0,0", "-agent", "preemptible"},
		{"-conns", "20", "-procs", "2", "-rotate", "-duration", "150ms", "-rounds", "1", "-cpus", "0,0", "-agent", "preemptible", "-json"},
	} {
		code, out, errs := runArgs(t, args...)
		if code != 0 {
			t.Fatalf("%q: exit %d: %s", args, code, errs)
		}
		if args[len(args)-1] == "-json" {
			var r connsResult
			if err := json.Unmarshal([]byte(out), &r); err != nil || r.Conns != 20 || r.Procs != 2 || !r.Rotate || r.N == 0 || r.ServerRSSKB == 0 || r.ServerBeforeKB == 0 || r.MsgsPerSec <= 0 {
				t.Fatalf("json %q: %v %+v", out, err, r)
			}
		} else if !strings.Contains(out, "server VmRSS") || !strings.Contains(out, "RssShmem") || !strings.Contains(out, "before load") {
			t.Fatalf("table:\n%s", out)
		}
	}
}

func TestRestartMode(t *testing.T) {
	code, out, errs := runArgs(t, "-mode", "restart", "-conns", "4", "-procs", "2", "-trials", "1", "-json", "-quiet")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var r map[string]any
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("%q: %v", out, err)
	}
	for _, k := range []string{"mode", "conns", "trials", "reconnect_p50_ms", "reconnect_p100_ms", "detect_p100_ms", "client_reclaim_p100_ms", "calls", "lost", "duplicated", "wrong"} {
		if _, ok := r[k]; !ok {
			t.Errorf("field %q missing from %s", k, out)
		}
	}
	if r["lost"].(float64) != 0 || r["duplicated"].(float64) != 0 || r["wrong"].(float64) != 0 {
		t.Fatalf("delivery: %s", out)
	}
	code, out, _ = runArgs(t, "-mode", "restart", "-conns", "2", "-trials", "1", "-quiet")
	if code != 0 || !strings.Contains(out, "lost 0, duplicated 0, wrong 0") {
		t.Fatalf("table: %d %s", code, out)
	}
}

func TestCleanup(t *testing.T) {
	t.Setenv("XDG_RUNTIME_DIR", t.TempDir())
	code, out, errs := runArgs(t, "-cleanup", "nothing-here")
	if code != 0 || !strings.Contains(out, "removed") {
		t.Fatalf("exit %d: %s %s", code, out, errs)
	}
	if code, _, _ := runArgs(t, "-cleanup", "a/b"); code != 1 {
		t.Fatalf("bad name: exit %d", code)
	}
}
