package main

import (
	"bytes"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/spinwire/spinwire/affinity"
	"github.com/spinwire/spinwire/tuning"
	"golang.org/x/sys/unix"
)

// threadMask returns the CPUs thread tid may run on.
func threadMask(tid int) ([]int, error) {
	var m unix.CPUSet
	if err := unix.SchedGetaffinity(tid, &m); err != nil {
		return nil, err
	}
	var out []int
	for i := range 1024 {
		if m.IsSet(i) {
			out = append(out, i)
		}
	}
	return out, nil
}

func TestParseStat(t *testing.T) {
	stat := `cpu  100 0 100 800 0 0 0 0 0 0
cpu0 50 0 50 400 10 0 0 0 7 0
cpu1 150 10 40 300 0 0 0 0 0 0
intr 1 2 3
`
	m, err := parseStat(strings.NewReader(stat))
	if err != nil {
		t.Fatal(err)
	}
	if m[0] != [2]uint64{510, 410} || m[1] != [2]uint64{500, 300} || len(m) != 2 {
		t.Errorf("parseStat: %v", m)
	}
	if _, err := parseStat(strings.NewReader("cpu0 1 2 x 4 5 6\n")); err == nil {
		t.Error("bad number accepted")
	}
	busy, err := cpuBusy([]int{0}, 0)
	if err != nil || len(busy) != 1 || busy[0] < 0 || busy[0] > 1 {
		t.Errorf("cpuBusy: %v %v", busy, err)
	}
}

func TestHostLines(t *testing.T) {
	cpu := tuning.CPU{Vendor: "GenuineIntel", Brand: "Xeon", Family: 6, Model: 143, Stepping: 8, VM: true, Hypervisor: "KVM",
		TSCKnown: true, InvariantTSC: true, Features: []string{"AVX2", "RDTSCP"}}
	topo, err := affinity.TopologyFS(fstest.MapFS{"sys/devices/system/cpu/online": {Data: []byte("0-1\n")}})
	if err != nil {
		t.Fatal(err)
	}
	got := hostLines(cpu, topo)
	want := []string{
		"cpu: Xeon (GenuineIntel family 6 model 143 stepping 8), under KVM, invariant TSC, AVX2 RDTSCP",
		"topology: 2 CPUs online (0-1), 1 package, 2 physical cores (no SMT), 1 L3 domain, 1 NUMA node; isolated none; " +
			"nohz_full none; housekeeping 0-1; cache line 64 B; unknown: cache, cache_line, core, die, isolated, l3, nohz_full, numa, package",
	}
	if !slices.Equal(got, want) {
		t.Errorf("hostLines:\n got %q\nwant %q", got, want)
	}
	if got := hostLines(tuning.CPU{}, nil); !slices.Equal(got, []string{"cpu: processor unknown"}) {
		t.Errorf("hostLines without facts: %q", got)
	}
}

func TestHostWarnings(t *testing.T) {
	topo, err := affinity.Topology()
	if err != nil {
		t.Skip(err)
	}
	c := testConfig("latency")
	c.CPUs = [2]int{0, 0}
	w := hostWarnings(c, topo, affinity.CPUSet{0})
	joined := strings.Join(w, "\n")
	if !strings.Contains(joined, "both peers on CPU 0") || !strings.Contains(joined, "fewer than two CPUs are free") {
		t.Errorf("warnings %q", w)
	}
	c.CPUs = [2]int{0, 1}
	w = hostWarnings(c, topo, affinity.CPUSet{0, 1})
	if !strings.Contains(strings.Join(w, "\n"), "no CPU beyond the two") {
		t.Errorf("warnings %q", w)
	}
	if isTerminal(&bytes.Buffer{}) {
		t.Error("a buffer is a terminal")
	}
}

// TestProgress: the line says where the run is, is drawn in place once
// the run is old enough, and is cleared at the end.
func TestProgress(t *testing.T) {
	defer func(d time.Duration) { progressAfter = d }(progressAfter)
	progressAfter = 0
	var b syncBuffer
	pl := plan{names: []string{"spinwire", "uds"}, perN: 1000}
	p := newProgress(&b, true, pl, 3)
	st := p.begin(1, 1, "uds")
	st.done.Store(250)
	if l := p.line(); !strings.Contains(l, "round 2/3, uds (2/2), 25% of 1000") {
		t.Errorf("line %q", l)
	}
	p.draw()
	p.clear()
	p.draw()
	p.finish()
	p.finish()
	out := b.String()
	if !strings.HasPrefix(out, "\r") || !strings.HasSuffix(out, "\r\x1b[K") || !strings.Contains(out, "uds") {
		t.Errorf("output %q", out)
	}
	q := newProgress(&b, false, plan{names: []string{"x"}}, 1)
	st = q.begin(0, 0, "x")
	st.done.Store(7)
	if l := q.line(); !strings.Contains(l, "7 measured") {
		t.Errorf("line %q", l)
	}
	q.finish()
}

// syncBuffer is a bytes.Buffer safe for a writer goroutine and a reader.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
