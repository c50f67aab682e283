package main

import (
	"bytes"
	"encoding/json"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/spinwire/spinwire/stat"
)

// registry makes a registry in a temporary directory with a server-like
// custom endpoint and a ring-like one whose counters the test sets.
func registry(t *testing.T) (string, *stat.Registry, *stat.Endpoint) {
	dir := t.TempDir()
	reg, err := stat.NewRegistry(stat.Options{Dir: dir, Interval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Close() })
	e, err := reg.Register(stat.KindRing, "ticks", "main.Tick", 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	e.Set(0, 100) // consumed
	e.Set(1, 130) // published
	e.Histogram().Record(200)
	return dir, reg, e
}

func runArgs(t *testing.T, args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := run(args, &out, &errb)
	return code, out.String(), errb.String()
}

// TestTable: the table lists the endpoint with its backlog; -json gives
// one object per endpoint with a rate taken over -i; NAME details it.
func TestTable(t *testing.T) {
	dir, _, e := registry(t)
	go func() { time.Sleep(20 * time.Millisecond); e.Set(0, 150) }()
	code, out, errs := runArgs(t, "-dir", dir, "-i", "100ms", "-json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var r row
	if err := json.Unmarshal([]byte(out), &r); err != nil || r.Endpoint != "ticks" || r.Kind != "ring" || r.Backlog != 0 || r.Rate < 100 || r.Latency.Count != 1 {
		t.Fatalf("%v %q %+v", err, out, r)
	}
	e.Set(1, 170)
	code, out, _ = runArgs(t, "-dir", dir, "-i", "1ms")
	if code != 0 || !strings.Contains(out, "ticks") || !strings.Contains(out, "BACKLOG") || !strings.Contains(out, " 20 ") {
		t.Fatalf("table:\n%s", out)
	}
	code, out, _ = runArgs(t, "-dir", dir, "-i", "1ms", "ticks")
	if code != 0 || !strings.Contains(out, "published") || !strings.Contains(out, "170") || !strings.Contains(out, "latency: 1 samples") {
		t.Fatalf("detail:\n%s", out)
	}
	code, out, _ = runArgs(t, "-dir", dir, "-i", "1ms", "-watch", "-rounds", "2")
	if code != 0 || strings.Count(out, "\x1b[2J") != 2 {
		t.Fatalf("watch:\n%q", out)
	}
	for _, args := range [][]string{
		{"-i", "0"}, {"-i", "-1s"}, {"a", "b"}, {"-watch", "-rounds", "-3"}, {"-rounds", "2"},
		{"-listen", ":0", "-json"}, {"-listen", ":0", "ticks"},
	} {
		code, _, errs := runArgs(t, args...)
		if first, _, _ := strings.Cut(errs, "\n"); code != 2 || !strings.HasPrefix(first, "spinstat: ") {
			t.Errorf("%q: exit %d, %q", args, code, errs)
		}
	}
}

// TestPrometheus: every counter is exported with its labels, the main one
// also as spinwire_messages_total.
func TestPrometheus(t *testing.T) {
	dir, _, _ := registry(t)
	reg := prometheus.NewRegistry()
	reg.MustRegister(&collector{dir: dir, shareDir: "-"})
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	b.ReadFrom(resp.Body)
	for _, want := range []string{`spinwire_messages_total{endpoint="ticks",id=`, `spinwire_ring_published_total{`, `spinwire_ring_capacity{`, "spinwire_corrupt_segments 0"} {
		if !strings.Contains(b.String(), want) {
			t.Fatalf("no %q in\n%s", want, b.String())
		}
	}
}

// TestMetricsServer: -listen's server answers /metrics, and only that,
// and bounds how long a client may take to send its request or read the
// answer.
func TestMetricsServer(t *testing.T) {
	dir, _, _ := registry(t)
	s := metricsServer(&config{dir: dir, shareDir: "-", listen: "127.0.0.1:0"})
	if s.ReadHeaderTimeout <= 0 || s.ReadTimeout <= 0 || s.WriteTimeout <= 0 || s.IdleTimeout <= 0 {
		t.Fatalf("a timeout is unset: %+v", s)
	}
	srv := httptest.NewServer(s.Handler)
	defer srv.Close()
	for path, want := range map[string]int{"/metrics": 200, "/": 404, "/debug/pprof/": 404} {
		resp, err := srv.Client().Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		b.ReadFrom(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want || (want == 200 && !strings.Contains(b.String(), "spinwire_ring_published_total")) {
			t.Errorf("GET %s: %d, want %d\n%s", path, resp.StatusCode, want, b.String())
		}
	}
}

// TestCorruptRow: a segment Scan could not read is a row of its own,
// marked corrupt, and the others are listed as usual.
func TestCorruptRow(t *testing.T) {
	ps := []stat.Process{{Name: "9.1", PID: 9, Err: stat.ErrCorrupt},
		{Name: "8.1", PID: 8, Endpoints: []stat.Snapshot{{Kind: stat.KindLinkServer, Name: "gw"}}}}
	var b bytes.Buffer
	writeTable(&b, diff(nil, ps, time.Second))
	if !strings.Contains(b.String(), "corrupt") || !strings.Contains(b.String(), "gw") || !strings.Contains(b.String(), "link-server") {
		t.Fatalf("%s", b.String())
	}
}

// TestHostileSegmentName: names in the registry directory with an escape
// sequence and a byte that is not UTF-8 (whoever may write the directory
// chooses them) - a registry's segment renamed, and a file that is no
// segment, which the table lists as corrupt under its name - are shown
// with those bytes as '?', and exported (the Prometheus client refuses a
// label that is not UTF-8, failing the whole scrape).
func TestHostileSegmentName(t *testing.T) {
	dir, _, _ := registry(t)
	ents, err := os.ReadDir(dir)
	if err != nil || len(ents) != 1 {
		t.Fatalf("%v %v", ents, err)
	}
	if err := os.Rename(filepath.Join(dir, ents[0].Name()), filepath.Join(dir, "\x1b[2J\xff")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "\x1b]0;owned\x07"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(&collector{dir: dir, shareDir: "-"})
	if _, err := reg.Gather(); err != nil {
		t.Fatal(err)
	}
	code, out, errs := runArgs(t, "-dir", dir, "-share", "-", "-i", "1ms")
	if code != 0 || strings.ContainsAny(out, "\x1b\x07") || strings.IndexByte(out, 0xff) >= 0 || !strings.Contains(out, "ticks") || !strings.Contains(out, "?]0;owned?") {
		t.Fatalf("exit %d\n%q\n%s", code, out, errs)
	}
}
