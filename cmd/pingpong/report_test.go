package main

import (
	"bytes"
	"encoding/json"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/spinwire/spinwire/asm"
)

// TestHistogram/within_its_precision: a round's HdrHistogram gives each
// percentile within its 3 significant digits of the exact value (its rank
// rule: the ⌊q·n+0.5⌋-th smallest sample), clamps what it cannot hold,
// and counts the values above a bound.
func TestHistogram(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	h := newHistogram()
	v := make([]int64, 100_000)
	for i := range v {
		v[i] = int64(math.Exp(r.NormFloat64()*1.5+6)) + 1
		record(h, v[i])
	}
	slices.Sort(v)
	for _, q := range []float64{50, 90, 99, 99.9, 99.99} {
		exact := v[int(q/100*float64(len(v))+0.5)-1]
		got := h.ValueAtPercentile(q)
		if math.Abs(float64(got-exact)) > 0.001*float64(exact)+1 {
			t.Errorf("p%v: histogram %d, exact %d", q, got, exact)
		}
	}
	if h.Max() < v[len(v)-1] || float64(h.Max()) > float64(v[len(v)-1])*1.001+1 {
		t.Errorf("max %d, exact %d", h.Max(), v[len(v)-1])
	}
	above := len(v) - sort.Search(len(v), func(i int) bool { return v[i] > 10_000 })
	if got := countAbove(h, 10_000); math.Abs(float64(got)-float64(above)) > 0.002*float64(len(v)) {
		t.Errorf("countAbove(10µs) %d, exact %d", got, above)
	}
	c := newHistogram()
	record(c, -3)
	record(c, 1<<62)
	if c.TotalCount() != 2 || c.ValueAtPercentile(0) != 0 || c.Max() < maxLatency {
		t.Errorf("clamp: count %d, min %d, max %d", c.TotalCount(), c.ValueAtPercentile(0), c.Max())
	}
}

// histOf records nanoseconds into a round's histogram.
func histOf(ns ...float64) *hdrhistogram.Histogram {
	h := newHistogram()
	for _, n := range ns {
		record(h, int64(n))
	}
	return h
}

// ticksOf turns nanoseconds into ticks.
func ticksOf(ns ...float64) []uint64 {
	out := make([]uint64, len(ns))
	for i, n := range ns {
		out[i] = uint64(n / 1e9 * asm.TicksPerSecond())
	}
	return out
}

func TestSummarise(t *testing.T) {
	c := testConfig("latency")
	c.CPUs = [2]int{0, 1}
	c.N, c.Rounds, c.Limit = 3000, 3, 3*time.Second
	round := func(base float64, slow int, cpus [4]int, short bool) sample {
		v := make([]float64, 1000)
		for i := range v {
			v[i] = base + float64(i%10)
		}
		for i := range slow {
			v[i] = 20_000
		}
		return sample{hist: histOf(v...), n: len(v), elapsed: ticksOf(1e6)[0], cpus: cpus, short: short}
	}
	ok := [4]int{0, 0, 1, 1}
	r := summarise("uds", c, []sample{
		round(1000, 0, ok, false),
		round(3000, 10, [4]int{0, 0, 1, 0}, false),
		round(2000, 0, [4]int{0, 0, -1, -1}, true),
	})
	near := func(got int64, want float64) bool { return math.Abs(float64(got)-want) <= 2 }
	if !near(r.P50, 2005) || !reflect.DeepEqual(len(r.p50s), 3) || !near(r.p50s[0], 1005) {
		t.Errorf("p50 %d (want the median round's 2005), by round %v", r.P50, r.p50s)
	}
	if r.Max < 20_000 || r.Max > 20_020 || r.N != 3000 || r.Rounds != 3 {
		t.Errorf("max %d n %d rounds %d", r.Max, r.N, r.Rounds)
	}
	if math.Abs(r.Over10us-10.0/3000) > 1e-9 {
		t.Errorf("over_10us %v, want %v", r.Over10us, 10.0/3000)
	}
	if math.Abs(r.MsgsPerSec-1e6) > 1e3 {
		t.Errorf("msgs/s %v, want 1e6", r.MsgsPerSec)
	}
	want := []string{
		"round 2: the peer at the end ran on CPU 0, not on CPU 1",
		"round 3: the peer at the start: CPU not reported",
		"round 3: the peer at the end: CPU not reported",
		"1 of 3 rounds stopped at -limit 3s before -n: 3000 messages measured of 3000",
	}
	if !reflect.DeepEqual(r.Warnings, want) {
		t.Errorf("warnings\n%q\nwant\n%q", r.Warnings, want)
	}
	if r.Options.Path == "" || r.Options.Wait == "" {
		t.Errorf("options %+v", r.Options)
	}

	// rate mode: the achieved send rate is reported and judged.
	c.Mode, c.Rate = "rate", 1e6
	s := round(1000, 0, ok, false)
	s.sendSpan = ticksOf(2e6)[0] // 999 sends in 2 ms: half the rate
	r = summarise("spinwire", c, []sample{s})
	if r.Rate != 1e6 || math.Abs(r.SentPerSec-499.5e3) > 1e3 || len(r.Warnings) != 1 || !strings.Contains(r.Warnings[0], "fell behind") {
		t.Errorf("rate: %v sent %v warnings %q", r.Rate, r.SentPerSec, r.Warnings)
	}
	if r.Options.Idle != "spin" || r.Options.Slots != c.Slots {
		t.Errorf("spinwire options %+v", r.Options)
	}

	// throughput and the floor.
	c.Mode = "throughput"
	r = summarise("pipe", c, []sample{{n: 500, elapsed: ticksOf(1e6)[0], cpus: ok}})
	if r.Batch != c.Batch || r.P50 != 0 || math.Abs(r.MsgsPerSec-5e5) > 1e3 {
		t.Errorf("throughput: %+v", r)
	}
	fl := result{Transport: "floor-c", Mode: "latency", N: 10000, P50: 120, Max: 900}
	r = summarise("floor-c", c, []sample{{floor: &fl, n: 10000}})
	if r.P50 != 120 || r.N != 10000 || r.Options.Path == "" || len(r.Warnings) != 0 {
		t.Errorf("floor: %+v", r)
	}
}

// TestJSONSchema/field_names: -json's field names are the ones the floor
// programs and the spin issue use, plus the options.
func TestJSONSchema(t *testing.T) {
	r := result{Transport: "spinwire", Mode: "rate", Size: 64, N: 5, CPUs: [2]int{2, 3}, P50: 1, P90: 2, P99: 3,
		P999: 4, P9999: 5, Max: 6, Mean: 1.5, Over10us: 0.1, MsgsPerSec: 7, Batch: 1, Rounds: 3, Rate: 1000, SentPerSec: 999,
		Options:  options{Idle: "spin", Agent: "dedicated", Protocol: "inslot", Slots: 1024, Path: "p", Wait: "w", Nodelay: true},
		Warnings: []string{"w"}}
	var b bytes.Buffer
	if err := writeJSON(&b, []result{r, {Transport: "raw"}}); err != nil {
		t.Fatal(err)
	}
	ls := lines(b.String())
	if len(ls) != 2 {
		t.Fatalf("%d lines", len(ls))
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(ls[0]), &m); err != nil {
		t.Fatal(err)
	}
	want := []string{"transport", "mode", "size", "n", "cpus", "p50_ns", "p90_ns", "p99_ns", "p999_ns", "p9999_ns",
		"max_ns", "mean_ns", "over_10us", "msgs_per_sec", "batch", "rounds", "rate", "sent_per_sec", "options", "warnings"}
	var got []string
	for k := range m {
		got = append(got, k)
	}
	slices.Sort(got)
	slices.Sort(want)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("fields %v\nwant %v", got, want)
	}
	opt := m["options"].(map[string]any)
	for _, k := range []string{"idle", "agent", "protocol", "slots", "path", "wait", "nodelay"} {
		if _, ok := opt[k]; !ok {
			t.Errorf("options lack %q", k)
		}
	}
	// The required fields are there even when zero; the optional ones not.
	var m2 map[string]any
	json.Unmarshal([]byte(ls[1]), &m2)
	for _, k := range []string{"p50_ns", "max_ns", "over_10us", "msgs_per_sec", "cpus"} {
		if _, ok := m2[k]; !ok {
			t.Errorf("zero result lacks %q", k)
		}
	}
	for _, k := range []string{"options", "warnings", "rate", "batch"} {
		if _, ok := m2[k]; ok {
			t.Errorf("zero result has %q", k)
		}
	}
	// The floor programs' line decodes into the same struct.
	floorLine := `{"transport":"floor-c","mode":"latency","size":8,"n":10000,"cpus":[0,1],"p50_ns":120,"p90_ns":130,"p99_ns":200,"p999_ns":900,"p9999_ns":4000,"max_ns":9000,"mean_ns":125.5,"over_10us":0.000100,"msgs_per_sec":8000000}`
	var fl result
	dec := json.NewDecoder(strings.NewReader(floorLine))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&fl); err != nil || fl.P9999 != 4000 {
		t.Errorf("floor line: %v %+v", err, fl)
	}
}

func TestTable(t *testing.T) {
	c := testConfig("latency")
	c.CPUs, c.Rounds, c.N = [2]int{0, 1}, 3, 3000
	rs := []result{
		{Transport: "spinwire", N: 3000, P50: 250, P90: 300, P99: 400, P999: 9000, P9999: 20_000, Max: 3_500_000, Over10us: 0.0001, MsgsPerSec: 3.9e6, p50s: []int64{250, 260, 240}, Options: options{Path: "ring", Wait: "spin"}},
		{Transport: "uds-net", N: 3000, P50: 50_000, P90: 60_000, P99: 90_000, P999: 400_000, P9999: 2_000_000, Max: 1_500_000_000, Over10us: 1, MsgsPerSec: 19_000, p50s: []int64{50_000}, Warnings: []string{"round 1: the peer at the end ran on CPU 0, not on CPU 1"}},
	}
	var b bytes.Buffer
	if err := writeTable(&b, c, rs); err != nil {
		t.Fatal(err)
	}
	ls := lines(b.String())
	if len(ls) != 3 {
		t.Fatalf("table:\n%s", b.String())
	}
	for _, col := range []string{"transport", "n", "p50", "p99.99", "max", ">10µs", "rt/s", "× spinwire", "p50 by round"} {
		if !strings.Contains(ls[0], col) {
			t.Errorf("header lacks %q: %s", col, ls[0])
		}
	}
	for _, want := range []string{"250ns", "9000ns", "20.00µs", "3.50ms", "0.0100%", "3.90M", "1.00", "250ns 260ns 240ns"} {
		if !strings.Contains(ls[1], want) {
			t.Errorf("spinwire row lacks %q: %s", want, ls[1])
		}
	}
	for _, want := range []string{"50.00µs", "1.50s", "100.0000%", "19.0k", "200.00"} {
		if !strings.Contains(ls[2], want) {
			t.Errorf("uds-net row lacks %q: %s", want, ls[2])
		}
	}
	// aligned: every line equally wide (right-aligned columns)
	w := len([]rune(ls[0]))
	for _, l := range ls {
		if len([]rune(l)) != w {
			t.Errorf("ragged table:\n%s", b.String())
			break
		}
	}

	b.Reset()
	writeHeader(&b, runInfo{c: c, machine: []string{"cpu: Some CPU", "topology: 1 package"}, warnings: []string{"host is busy"}}, rs)
	writePaths(&b, rs)
	h := b.String()
	for _, want := range []string{"latency mode", "3 interleaved rounds", "warm-up before each round, discarded", "1 mismatching check",
		"GOMAXPROCS=", "async preemption", "# warning: host is busy", "# cpu: Some CPU\n# topology: 1 package\n", "# warning: uds-net: round 1", "spinwire  ring; spin"} {
		if !strings.Contains(h, want) {
			t.Errorf("header lacks %q:\n%s", want, h)
		}
	}

	c.Mode, c.Batch = "throughput", 8
	b.Reset()
	rs[0].Batch, rs[1].Batch = 8, 8
	writeTable(&b, c, rs)
	if !strings.Contains(b.String(), "msgs/s") || !strings.Contains(b.String(), "0.00") {
		t.Errorf("throughput table:\n%s", b.String())
	}
	b.Reset()
	writeHeader(&b, runInfo{c: c}, nil)
	if !strings.Contains(b.String(), "batch 8") || strings.Contains(b.String(), "warm-up") {
		t.Errorf("throughput header:\n%s", b.String())
	}
	c.Mode, c.Rate, c.Duration, c.Warmup, c.WarmupTime = "rate", 25000, 3*time.Second, 10_000_000, time.Second
	b.Reset()
	writeHeader(&b, runInfo{c: c}, nil)
	if !strings.Contains(b.String(), "intended send time") || !strings.Contains(b.String(), "about 3s per transport") || !strings.Contains(b.String(), "discarded: 1s") {
		t.Errorf("rate header:\n%s", b.String())
	}
	b.Reset()
	writeTable(&b, c, rs[1:])
	if !strings.Contains(b.String(), "replies/s") || !strings.Contains(b.String(), " - ") {
		t.Errorf("rate table without spinwire:\n%s", b.String())
	}
}

func TestFormat(t *testing.T) {
	for n, want := range map[int64]string{0: "0ns", 9999: "9999ns", 10_000: "10.00µs", 999_994: "999.99µs", 1_000_000: "1.00ms", 2_500_000_000: "2.50s"} {
		if got := dur(n); got != want {
			t.Errorf("dur(%d) = %q, want %q", n, got, want)
		}
	}
	for r, want := range map[float64]string{12: "12", 1500: "1.5k", 2.5e6: "2.50M"} {
		if got := rate(r); got != want {
			t.Errorf("rate(%v) = %q, want %q", r, got, want)
		}
	}
	if median([]float64{3, 1, 2}) != 2 || median([]int64{}) != 0 {
		t.Error("median")
	}
}

// TestPerDrain: a throughput round's per_drain is its messages over the
// consumer's polls that took any; the result carries the rounds' median,
// a round without the count (0) reads as 0, and the table shows it in its
// "per poll" column ("-" where unknown).
func TestPerDrain(t *testing.T) {
	c := testConfig("throughput")
	c.Batch = 1
	round := func(n int, drains uint64) sample {
		return sample{n: n, elapsed: ticksOf(1e6)[0], drains: drains}
	}
	r := summarise("spinwire", c, []sample{round(1000, 1000), round(1000, 250), round(1000, 100)})
	if r.PerDrain != 4 {
		t.Errorf("per_drain %v, want the median round's 4", r.PerDrain)
	}
	if r0 := roundResult("spinwire", c, round(1000, 0)); r0.PerDrain != 0 {
		t.Errorf("a round without drains: per_drain %v, want 0", r0.PerDrain)
	}
	fl := result{Transport: "floor-c", N: 1000, MsgsPerSec: 2e6, Batch: 1}
	var b strings.Builder
	writeTable(&b, c, []result{r, fl})
	ls := lines(b.String())
	if len(ls) != 3 || !strings.HasSuffix(ls[0], "per poll") || !strings.HasSuffix(ls[1], "4.0") || !strings.HasSuffix(ls[2], "-") {
		t.Errorf("throughput table:\n%s", b.String())
	}
}
