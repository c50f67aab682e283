package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestStreamRows: every size gets the Ring under both protocols and the
// Log, 64 bytes also records, each at batch 1 and 64, in table order.
func TestStreamRows(t *testing.T) {
	var got []string
	for _, r := range streamRows([]int{64, 1024}) {
		got = append(got, strings.Join([]string{itoa(r.Size), r.Protocol, itoa(r.Batch)}, "/"))
	}
	want := []string{"64/inslot/1", "64/inslot/64", "64/cursors/1", "64/cursors/64", "64/log/1", "64/log/64", "64/records/1", "64/records/64",
		"1024/inslot/1", "1024/inslot/64", "1024/cursors/1", "1024/cursors/64", "1024/log/1", "1024/log/64"}
	if !slices.Equal(got, want) {
		t.Errorf("rows %v\nwant %v", got, want)
	}
}

// TestStreamRowArgs: a row runs with the streams run's rounds, agent,
// timeout, CPUs if given, and -count if given, else a count by size.
func TestStreamRowArgs(t *testing.T) {
	r := &streamRow{Size: 4096, Protocol: "log", Batch: 64}
	c := &config{FloorDir: "/f", Rounds: 5, Agent: "preemptible", Timeout: 7 * time.Second}
	a := strings.Join(r.args(c), " ")
	for _, want := range []string{"-mode throughput", "-transport spinwire", "-floor /f", "-size 4096", "-protocol log", "-batch 64", "-rounds 5", "-agent preemptible", "-timeout 7s", "-n 1000000"} {
		if !strings.Contains(a, want) {
			t.Errorf("%q lacks %q", a, want)
		}
	}
	if strings.Contains(a, "-cpus") {
		t.Errorf("%q names CPUs not given", a)
	}
	c.CPUs, c.cpusGiven, c.Count = [2]int{3, 1}, true, 5000
	a = strings.Join(r.args(c), " ")
	if !strings.Contains(a, "-cpus 3,1") || !strings.Contains(a, "-n 5000") {
		t.Errorf("%q: want -cpus 3,1 and -n 5000", a)
	}
	if streamN(64) != 20_000_000 || streamN(1024) != 1_250_000 || streamN(8192) != 1_000_000 {
		t.Errorf("streamN: %d, %d, %d", streamN(64), streamN(1024), streamN(8192))
	}
}

// TestStreams: the mode end to end against a stand-in floor_stream that
// reports 1 M msg/s: every row once per pass, each ratio spinwire's rate
// over 1 M, the medians. Two passes, one under -short (a run per row and
// pass: about 0.3 s, 2 s under -race).
func TestStreams(t *testing.T) {
	cpus := twoCPUs(t)
	dir := t.TempDir()
	fake := "#!/bin/sh\necho '{\"transport\":\"floor-c\",\"mode\":\"throughput\",\"n\":10000,\"msgs_per_sec\":1000000}'\n"
	if err := os.WriteFile(filepath.Join(dir, "floor_stream"), []byte(fake), 0o755); err != nil {
		t.Fatal(err)
	}
	passes := 2
	if testing.Short() {
		passes = 1
	}
	code, out, errs := runArgs(t, "-mode", "streams", "-floor", dir, "-sizes", "64", "-passes", itoa(passes), "-rounds", "1", "-count", "20000",
		"-agent", "preemptible", "-cpus", cpus, "-json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	for i, r := range jsonLines[streamRow](t, out, 8) {
		want := streamRows([]int{64})[i]
		if r.Mode != "streams" || r.Size != 64 || r.Protocol != want.Protocol || r.Batch != want.Batch || len(r.Ratios) != passes || r.FloorPerS != 1e6 ||
			len(r.Rates) != passes || !slices.Equal(r.Floors, slices.Repeat([]float64{1e6}, passes)) {
			t.Errorf("line %d: %+v", i, r)
		}
		if r.MsgsPerSec <= 0 || r.Ratio <= 0 || r.Ratio != median(r.Ratios) {
			t.Errorf("line %d: rate %v, ratio %v of %v", i, r.MsgsPerSec, r.Ratio, r.Ratios)
		}
	}
	if n := strings.Count(errs, "pass "); n != 8*passes {
		t.Errorf("%d progress notes, want %d:\n%s", n, 8*passes, errs)
	}
}

// TestWriteStreams: the table names the host, gives every row with its
// passes, and says what the ratio is.
func TestWriteStreams(t *testing.T) {
	rows := streamRows([]int{64})
	for i, r := range rows {
		r.Rates, r.Floors, r.Ratios = []float64{1e6 * float64(i+1), 3e6}, []float64{2e6, 2e6}, []float64{0.5 * float64(i+1), 1.5}
		r.summarise()
	}
	rows[1].Warnings = []string{"CPU 1 busy"}
	rows[5].Warnings = []string{"CPU 1 busy", "no isolation"}
	var b strings.Builder
	if err := writeStreams(&b, &config{Passes: 2, Rounds: 3}, rows); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{"2 passes of 3 rounds", "# cpu: ", "size  protocol  batch  × floor  per pass",
		"\n64    inslot    1      1.50     0.50 1.50  3.0 M", "\n64    records   64     4.00     4.00 1.50  8.0 M", "the targets are 0.8 ×"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	if strings.Count(out, "# warning: CPU 1 busy\n") != 1 || strings.Count(out, "# warning: no isolation\n") != 1 {
		t.Errorf("want each warning once:\n%s", out)
	}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }
