package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spinwire/spinwire/affinity"
	"github.com/spinwire/spinwire/asm"
	"github.com/spinwire/spinwire/layout"
	"github.com/spinwire/spinwire/topic"
)

// TestMain lets a test run this program as a child process: "feed demo"
// re-executes os.Executable() — the test binary here — with "subscribe".
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && !strings.HasPrefix(os.Args[1], "-") {
		os.Exit(mainExit(os.Args[1:]))
	}
	os.Exit(m.Run())
}

// needTwoCPUs skips t unless the publisher and the subscriber can each be
// pinned to a CPU of their own.
func needTwoCPUs(t *testing.T) {
	t.Helper()
	if allowed, err := affinity.Allowed(); err != nil || len(allowed) < 2 {
		t.Skipf("needs two CPUs to pin the publisher and the subscriber to (allowed %v, err %v)", allowed, err)
	}
}

// keepRuntime restores the runtime settings that tuneRuntime changes.
func keepRuntime(t *testing.T) {
	procs, gc, limit := runtime.GOMAXPROCS(0), debug.SetGCPercent(100), debug.SetMemoryLimit(-1)
	debug.SetGCPercent(gc)
	t.Cleanup(func() {
		runtime.GOMAXPROCS(procs)
		debug.SetGCPercent(gc)
		debug.SetMemoryLimit(limit)
	})
}

// syncBuffer is a bytes.Buffer that several goroutines (and a child's
// output copier) may write.
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

func pubCfg(dir string) pubConfig {
	return pubConfig{name: "feed-test", dir: dir, policy: topic.Lossy, rate: 100_000, duration: 300 * time.Millisecond,
		batch: 16, capacity: 256, stall: time.Second, subs: 1, cpu: "auto", wait: 5 * time.Second, procs: 4}
}

func subCfg(dir string) subConfig {
	return subConfig{name: "feed-test", dir: dir, label: "subscriber", cpu: "auto", batch: 64,
		every: 100 * time.Millisecond, wait: 5 * time.Second, procs: 4, idle: "spin"}
}

type subOutcome struct {
	res *subResult
	err error
}

// startSubscriber runs the subscriber role on a goroutine.
func startSubscriber(ctx context.Context, cfg subConfig, out *syncBuffer) <-chan subOutcome {
	c := make(chan subOutcome, 1)
	go func() {
		res, err := subscribe(ctx, cfg, out, out)
		c <- subOutcome{res, err}
	}()
	return c
}

// runPair runs a publisher and one subscriber in this process and returns
// what each did.
func runPair(t *testing.T, pc pubConfig, sc subConfig) (*pubResult, subOutcome, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var pubOut, subOut syncBuffer
	subc := startSubscriber(ctx, sc, &subOut)
	pub, err := publish(ctx, pc, &pubOut, &pubOut)
	sub := <-subc
	out := pubOut.String() + subOut.String()
	if err != nil {
		t.Fatalf("publish: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(pc.dir, pc.name)); !os.IsNotExist(err) {
		t.Fatalf("topic name not removed: %v", err)
	}
	return pub, sub, out
}

// TestFeed: under either policy, a subscriber receives every tick, in
// order, or (lossy) counts the ones it was lapped over, and knows it did.
func TestFeed(t *testing.T) {
	needTwoCPUs(t)
	keepRuntime(t)
	for _, pol := range []topic.Policy{topic.Lossy, topic.Reliable} {
		for _, rate := range []float64{100_000, 0} {
			if pol == topic.Lossy && rate == 0 {
				continue // unpaced and lossy: the subscriber may be lapped
			}
			t.Run(fmt.Sprintf("%s_rate_%.0f", pol, rate), func(t *testing.T) {
				pc := pubCfg(t.TempDir())
				pc.policy, pc.rate = pol, rate
				sc := subCfg(pc.dir)
				pub, sub, out := runPair(t, pc, sc)
				t.Log(out)
				if sub.err != nil {
					t.Fatalf("subscribe: %v", sub.err)
				}
				r := sub.res
				// Lossy: a subscriber descheduled for a whole lap (2.5 ms) is
				// lapped, and knows by how much; reliable: nothing is lost.
				if pub.Published == 0 || r.Received+r.Lost != pub.Published || r.Published != pub.Published || !r.Complete ||
					r.Gaps != r.Lost || (pol == topic.Reliable && r.Lost != 0) {
					t.Fatalf("published %d; subscriber %+v", pub.Published, r)
				}
				if uint64(r.Latency.TotalCount()) != r.Received || pub.Left != 0 {
					t.Fatalf("%d latencies for %d ticks; %d left attached", r.Latency.TotalCount(), r.Received, pub.Left)
				}
				for _, want := range []string{"all in order; the publisher sent", "publisher: published", "latency over the run: p50"} {
					if !strings.Contains(out, want) {
						t.Errorf("output lacks %q", want)
					}
				}
			})
		}
	}
}

// TestSlowSubscriber: a subscriber that takes 200 µs per tick against a
// feed of 100 000 ticks/s. Lossy: it is lapped, and every tick is either
// received or counted lost. Reliable: it loses nothing and the publisher
// goes at its pace. Stalled past StallTimeout: it is evicted and told so.
func TestSlowSubscriber(t *testing.T) {
	needTwoCPUs(t)
	keepRuntime(t)
	slow := func(pol topic.Policy) (pubConfig, subConfig) {
		pc := pubCfg(t.TempDir())
		pc.policy = pol
		sc := subCfg(pc.dir)
		sc.slow = 200 * time.Microsecond
		return pc, sc
	}
	t.Run("lossy", func(t *testing.T) {
		pc, sc := slow(topic.Lossy)
		pub, sub, out := runPair(t, pc, sc)
		r := sub.res
		// 300 ms at 100 000/s is ~30 000 ticks; at 200 µs each the
		// subscriber takes fewer than 3 000 in the run and the drain.
		if sub.err != nil || r.Lost == 0 || r.Received+r.Lost != pub.Published || !r.Complete {
			t.Fatalf("published %d; %v %+v\n%s", pub.Published, sub.err, r, out)
		}
	})
	t.Run("reliable", func(t *testing.T) {
		pc, sc := slow(topic.Reliable)
		pub, sub, out := runPair(t, pc, sc)
		r := sub.res
		// The publisher waited: it sent far fewer than 30 000.
		if sub.err != nil || r.Lost != 0 || r.Received != pub.Published || pub.FullEvents == 0 || pub.Published > 10_000 || !r.Complete {
			t.Fatalf("published %d, full %d; %v %+v\n%s", pub.Published, pub.FullEvents, sub.err, r, out)
		}
	})
	t.Run("evicted", func(t *testing.T) {
		pc, sc := slow(topic.Reliable)
		pc.stall, sc.slow = 100*time.Millisecond, 500*time.Millisecond
		// each tick it takes holds it for 5 × the stall timeout
		pub, sub, out := runPair(t, pc, sc)
		if !errors.Is(sub.err, topic.ErrEvicted) || !sub.res.Evicted || pub.Evicted != 1 {
			t.Fatalf("evicted %d; %v %+v\n%s", pub.Evicted, sub.err, sub.res, out)
		}
	})
}

// TestRestart: a subscriber follows a new publisher of the name and
// counts the restart; the new publisher's ticks start again at 0.
func TestRestart(t *testing.T) {
	needTwoCPUs(t)
	keepRuntime(t)
	pc := pubCfg(t.TempDir())
	pc.policy = topic.Reliable // nothing lost, whatever the scheduler does
	first, err := topic.Create[Tick](pc.name, topic.Options{Dir: pc.dir, Capacity: 256})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var pubOut, subOut syncBuffer
	subc := startSubscriber(ctx, subCfg(pc.dir), &subOut)
	for first.Stats().Subscribers == 0 && ctx.Err() == nil {
		time.Sleep(time.Millisecond)
	}
	for i := range 100 {
		first.Publish(&Tick{Seq: uint64(i), Stamp: asm.Ticks()})
	}
	first.Close() // no last tick: as if it had died
	pub, err := publish(ctx, pc, &pubOut, &pubOut)
	sub := <-subc
	t.Logf("%s%s", &pubOut, &subOut)
	if err != nil || sub.err != nil {
		t.Fatalf("publish: %v; subscribe: %v", err, sub.err)
	}
	if r := sub.res; r.Restarts != 1 || r.Received != 100+pub.Published || !r.Complete || r.Gaps != 0 {
		t.Fatalf("published 100 then %d; subscriber %+v", pub.Published, r)
	}
}

// TestDemo runs the demo as a user does: three subscriber processes, the
// last slow, under each policy. Every subscriber accounts for every tick
// (received + lost = sent, and none lost under reliable).
func TestDemo(t *testing.T) {
	needTwoCPUs(t)
	keepRuntime(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var out, errs syncBuffer
	err := run(ctx, []string{"demo", "-dir", t.TempDir(), "-name", "demo", "-subs", "3", "-rate", "50000",
		"-duration", "300ms", "-every", "100ms", "-procs", "4", "-slow", "100us"}, &out, &errs)
	t.Logf("stdout:\n%s\nstderr:\n%s", &out, &errs)
	if err != nil {
		t.Fatal(err)
	}
	sent := regexp.MustCompile(`publisher: published (\d+) ticks`).FindAllStringSubmatch(out.String(), -1)
	if len(sent) != 2 {
		t.Fatalf("%d publisher summaries", len(sent))
	}
	line := regexp.MustCompile(`(?m)^sub (\d)( \(slow\))?: (\d+) ticks received, (\d+) lost to laps, all in order; the publisher sent (\d+)$`)
	rounds := strings.Split(out.String(), "feed demo: ")[1:]
	for r, round := range rounds {
		subs := line.FindAllStringSubmatch(round, -1)
		if len(subs) != 3 {
			t.Fatalf("round %d: %d subscriber summaries", r, len(subs))
		}
		for _, m := range subs {
			got, _ := strconv.ParseUint(m[3], 10, 64)
			lost, _ := strconv.ParseUint(m[4], 10, 64)
			if m[5] != sent[r][1] || strconv.FormatUint(got+lost, 10) != m[5] || (r == 1 && lost != 0) {
				t.Errorf("round %d: %q", r, m[0])
			}
		}
	}
}

func TestInterrupt(t *testing.T) {
	needTwoCPUs(t)
	keepRuntime(t)
	t.Run("ctrl_c_stops_both_and_removes_the_name", func(t *testing.T) {
		dir := t.TempDir()
		ctx, cancel := context.WithCancel(context.Background())
		var pubOut, subOut syncBuffer
		subc := startSubscriber(ctx, subCfg(dir), &subOut)
		cfg := pubCfg(dir)
		cfg.duration = time.Minute
		time.AfterFunc(300*time.Millisecond, cancel)
		pub, err := publish(ctx, cfg, &pubOut, &pubOut)
		sub := <-subc
		if err != nil || sub.err != nil {
			t.Fatalf("publish: %v; subscribe: %v\n%s\n%s", err, sub.err, &pubOut, &subOut)
		}
		if pub.Published == 0 || sub.res.Gaps != sub.res.Lost || sub.res.Disorder != 0 {
			t.Fatalf("published %d; subscriber %+v", pub.Published, sub.res)
		}
		if _, err := os.Stat(filepath.Join(dir, "feed-test")); !os.IsNotExist(err) {
			t.Fatalf("name not removed: %v", err)
		}
	})
	t.Run("subscriber_stops_when_the_publisher_is_gone", func(t *testing.T) {
		dir := t.TempDir()
		p, err := topic.Create[Tick]("feed-test", topic.Options{Dir: dir})
		if err != nil {
			t.Fatal(err)
		}
		cfg := subCfg(dir)
		cfg.wait = 200 * time.Millisecond
		var out syncBuffer
		subc := startSubscriber(context.Background(), cfg, &out)
		for p.Stats().Subscribers == 0 {
			time.Sleep(time.Millisecond)
		}
		p.Close()
		if sub := <-subc; sub.err == nil || !strings.Contains(sub.err.Error(), "went away") {
			t.Fatalf("subscribe: %v\n%s", sub.err, &out)
		}
	})
	t.Run("interrupted_while_waiting", func(t *testing.T) {
		dir := t.TempDir()
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(50*time.Millisecond, cancel)
		var out syncBuffer
		if res, err := publish(ctx, pubCfg(dir), &out, &out); err != nil || res.Published != 0 {
			t.Fatalf("publish: %v %+v", err, res)
		}
		ctx, cancel = context.WithCancel(context.Background())
		time.AfterFunc(50*time.Millisecond, cancel)
		if res, err := subscribe(ctx, subCfg(dir), &out, &out); err != nil || res != nil {
			t.Fatalf("subscribe: %v %+v", err, res)
		}
	})
}

// A topic of another Tick is refused with the differing field named, at
// once: waiting would not help.
func TestOtherTick(t *testing.T) {
	type OtherTick struct {
		Seq   uint64
		Stamp uint32
		_     [52]byte
	}
	dir := t.TempDir()
	p, err := topic.Create[OtherTick]("feed-test", topic.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	var out syncBuffer
	start := time.Now()
	if _, err := subscribe(context.Background(), subCfg(dir), &out, &out); err == nil || !strings.Contains(err.Error(), "Stamp") || time.Since(start) > 4*time.Second {
		t.Fatalf("subscribe: %v", err)
	}
}

func TestCommandLine(t *testing.T) {
	keepRuntime(t)
	ctx := context.Background()
	for _, args := range [][]string{
		nil,
		{"bogus"},
		{"publish", "-rate", "-1"},
		{"publish", "extra"},
		{"publish", "-policy", "both"},
		{"publish", "-policy", "x"},
		{"demo", "-duration", "0"},
		{"demo", "-subs", "0"},
		{"demo", "-idle", "x"},
		{"subscribe", "-batch", "0"},
		{"subscribe", "-idle", "x"},
		{"subscribe", "-slow", "-1s"},
		{"subscribe", "extra"},
		{"subscribe", "-cpu", "x"},
		{"publish", "-cpu", "-3"},
		{"publish", "-ring", "3", "-dir", t.TempDir()},
		{"subscribe", "-nosuchflag"},
	} {
		var out, errs syncBuffer
		if err := run(ctx, args, &out, &errs); err == nil {
			t.Errorf("%q: no error", args)
		}
	}
	var out, errs syncBuffer
	if err := run(ctx, []string{"help"}, &out, &errs); err != nil || !strings.Contains(out.String(), "feed publish") {
		t.Fatalf("help: %v %q", err, &out)
	}
	if cpu, err := chooseCPU("3", 0, &errs); cpu != 3 || err != nil {
		t.Fatal(cpu, err)
	}
	if cpu, err := chooseCPU("none", 0, &errs); cpu != -1 || err != nil || cpuName(cpu) != "not pinned" {
		t.Fatal(cpu, err)
	}
	cfg, err := parsePublish("demo", []string{"-subs", "2"}, &errs)
	if err != nil || len(cfg.policies) != 2 {
		t.Fatal(cfg.policies, err)
	}
	if a := subscriberArgs(cfg, 1); !slices.Contains(a, "sub 2 (slow)") || !slices.Contains(a, "none") {
		t.Fatalf("%q", a)
	}
}

func TestLayout(t *testing.T) {
	s, err := layout.Of[Tick]()
	if err != nil || s.Size != TickLength {
		t.Fatalf("Tick: %v, %d bytes", err, s.Size)
	}
}

// TestLatency: the histogram gives each percentile within its three
// significant digits (HdrHistogram's rank: the ⌊q·n+0.5⌋-th smallest
// value), clamps what it cannot hold, and recording allocates nothing.
func TestLatency(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	h := newLatency()
	vals := make([]uint64, 10_000)
	for i := range vals {
		vals[i] = rng.Uint64N(1 << uint(rng.IntN(40)+1))
		recordLatency(h, vals[i])
	}
	slices.Sort(vals)
	for _, p := range []float64{50, 90, 99, 99.9, 100} {
		rank := min(max(int(p/100*float64(len(vals))+0.5), 1), len(vals))
		want, got := float64(vals[rank-1]), float64(h.ValueAtPercentile(p))
		if got < want*(1-1e-3)-1 || got > want*(1+1e-3)+1 {
			t.Errorf("p%v: got %v, want %v (±0.1 %%)", p, got, want)
		}
	}
	if a := testing.AllocsPerRun(1000, func() { recordLatency(h, 12345) }); a != 0 {
		t.Errorf("recordLatency: %v allocations", a)
	}
	m := newLatency()
	recordLatency(m, 1<<62) // beyond maxLatency: clamped, not refused
	if m.TotalCount() != 1 || m.Max() < maxLatency || latencyString(m) == "" {
		t.Fatalf("clamp: count %d, max %d", m.TotalCount(), m.Max())
	}
	for _, ns := range []uint64{0, 5e3, 5e5, 5e8, 5e9} {
		if ticksString(ns) == "" {
			t.Fatal("format")
		}
	}
}

// TestZeroAllocs: publishing a batch and polling it allocate nothing.
func TestZeroAllocs(t *testing.T) {
	pub, sub := topicPair(t)
	s := newSubscriber(sub, 64, ^uint64(0)>>1, 0, func() {})
	p := &publisher{pub: pub, batch: 16, rng: 1}
	if a := testing.AllocsPerRun(1000, func() {
		p.duty()
		s.duty()
	}); a != 0 {
		t.Fatalf("%v allocations per publish+poll", a)
	}
	if s.win.ticks == 0 || s.win.gaps != 0 || s.win.lost != 0 {
		t.Fatalf("window %+v", s.win)
	}
}

// TestGapBeforeLast: ticks lost before the first one received and just
// before the last one count as gaps, like any other (the subscriber
// starts at its Position; the last tick's Seq is the number sent), so a
// subscriber lapped at the very start or end still balances its gaps and
// losses (both were seen in CI runs on a loaded host).
func TestGapBeforeLast(t *testing.T) {
	_, sub := topicPair(t)
	s := newSubscriber(sub, 64, ^uint64(0)>>1, 0, func() {})
	for _, tk := range []Tick{{Seq: 2}, {Seq: 3}, {Seq: 4}, {Seq: 7, Flags: FlagLast}} {
		s.onTick(&tk)
	}
	if s.win.ticks != 3 || s.win.gaps != 4 || s.last == nil || s.last.Seq != 7 || s.win.disorder != 0 {
		t.Fatalf("ticks %d, gaps %d, disorder %d, last %v", s.win.ticks, s.win.gaps, s.win.disorder, s.last)
	}
}

// topicPair creates a 256-slot topic of Ticks and one subscriber to it,
// both closed when t ends.
func topicPair(t *testing.T) (*topic.Publisher[Tick], *topic.Subscriber[Tick]) {
	t.Helper()
	dir := t.TempDir()
	pub, err := topic.Create[Tick]("feed-test", topic.Options{Dir: dir, Capacity: 256})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pub.Close() })
	sub, err := topic.Subscribe[Tick]("feed-test", topic.SubscribeOptions{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sub.Close() })
	return pub, sub
}
