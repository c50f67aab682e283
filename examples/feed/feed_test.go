package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spinwire/spinwire/affinity"
	"github.com/spinwire/spinwire/agent"
	"github.com/spinwire/spinwire/batch"
	"github.com/spinwire/spinwire/layout"
	"github.com/spinwire/spinwire/spin"
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
	return pubConfig{name: "feed-test", dir: dir, rate: 100_000, duration: 300 * time.Millisecond, batch: 16,
		capacity: 256, cpu: "auto", wait: 5 * time.Second, procs: 4}
}

func subCfg(dir string) subConfig {
	return subConfig{name: "feed-test", dir: dir, cpu: "auto", batch: 64, every: 100 * time.Millisecond,
		wait: 5 * time.Second, procs: 4}
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

func TestFeed(t *testing.T) {
	needTwoCPUs(t)
	keepRuntime(t)
	for _, tc := range []struct {
		name string
		rate float64
	}{
		{"paced_every_tick_arrives_in_order", 100_000},
		{"unpaced_back_pressure_loses_nothing", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			var pubOut, subOut syncBuffer
			subc := startSubscriber(ctx, subCfg(dir), &subOut)
			cfg := pubCfg(dir)
			cfg.rate = tc.rate
			pub, err := publish(ctx, cfg, &pubOut, &pubOut)
			if err != nil {
				t.Fatalf("publish: %v\n%s", err, &pubOut)
			}
			sub := <-subc
			t.Logf("publisher:\n%s\nsubscriber:\n%s", &pubOut, &subOut)
			if sub.err != nil {
				t.Fatalf("subscribe: %v", sub.err)
			}
			r := sub.res
			if pub.Published == 0 || r.Received != pub.Published || r.Published != pub.Published || !r.Complete {
				t.Fatalf("published %d, subscriber got %d of %d (complete %v)", pub.Published, r.Received, r.Published, r.Complete)
			}
			if r.Gaps != 0 || r.Disorder != 0 || uint64(r.Latency.TotalCount()) != r.Received {
				t.Fatalf("gaps %d, disorder %d, %d latencies for %d ticks", r.Gaps, r.Disorder, r.Latency.TotalCount(), r.Received)
			}
			if !strings.Contains(subOut.String(), "all in order, none missing") || !strings.Contains(pubOut.String(), "publisher: published") {
				t.Fatal("summary lines missing")
			}
			if _, err := os.Stat(filepath.Join(dir, "feed-test")); !os.IsNotExist(err) {
				t.Fatalf("segment not removed: %v", err)
			}
		})
	}
}

// The demo re-executes the test binary as the subscriber: two processes.
func TestDemoTwoProcesses(t *testing.T) {
	needTwoCPUs(t)
	keepRuntime(t)
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var out, errs syncBuffer
	err := run(ctx, []string{"demo", "-dir", dir, "-name", "demo", "-rate", "50000", "-duration", "300ms",
		"-every", "100ms", "-procs", "4"}, &out, &errs)
	t.Logf("stdout:\n%s\nstderr:\n%s", &out, &errs)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"publisher: subscriber pid", "publisher: published", "all in order, none missing; the publisher sent", "latency over the run: p50"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q", want)
		}
	}
}

func TestInterrupt(t *testing.T) {
	needTwoCPUs(t)
	keepRuntime(t)
	t.Run("ctrl_c_stops_both_and_removes_the_segment", func(t *testing.T) {
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
		if pub.Published == 0 || sub.res.Gaps != 0 || sub.res.Disorder != 0 {
			t.Fatalf("published %d; subscriber %+v", pub.Published, sub.res)
		}
		if _, err := os.Stat(filepath.Join(dir, "feed-test")); !os.IsNotExist(err) {
			t.Fatalf("segment not removed: %v", err)
		}
	})
	t.Run("publisher_stops_when_the_subscriber_leaves", func(t *testing.T) {
		dir := t.TempDir()
		var pubOut, subOut syncBuffer
		subCtx, subCancel := context.WithCancel(context.Background())
		subc := startSubscriber(subCtx, subCfg(dir), &subOut)
		time.AfterFunc(300*time.Millisecond, subCancel)
		cfg := pubCfg(dir)
		cfg.duration = time.Minute
		_, err := publish(context.Background(), cfg, &pubOut, &pubOut)
		if err == nil || !strings.Contains(err.Error(), "went away") {
			t.Fatalf("publish: %v", err)
		}
		<-subc
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

// newFeed creates a feed segment as the publisher does, without publishing.
func newFeed(t *testing.T, dir string) (*layout.Segment, *control, *spin.Ring[Tick]) {
	t.Helper()
	var errs syncBuffer
	seg, ctl, ring, err := createFeed(pubCfg(dir), &errs)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { seg.Close() })
	return seg, ctl, ring
}

// A publisher is another process: whatever it writes, the subscriber ends
// with an error that says what, never a panic or a hang.
func TestHostilePublisher(t *testing.T) {
	keepRuntime(t)
	t.Run("corrupt_slot_sequence", func(t *testing.T) {
		dir := t.TempDir()
		seg, ctl, ring := newFeed(t, dir)
		ring.TryPublish(&Tick{Seq: 0})
		// Slot 1's sequence word (the last 8 bytes of the slot) gets a value
		// no correct publisher writes.
		_, stride, _ := spin.RingLength[Tick](ring.Capacity(), ringProtocol)
		off := RingOffset + spin.RingHeaderLength + 2*stride - spin.SlotSeqLength
		binary.LittleEndian.PutUint64(seg.Body()[off:], 12345)
		cfg := subCfg(dir)
		cfg.cpu = "none"
		var out syncBuffer
		res, err := subscribe(context.Background(), cfg, &out, &out)
		if !errors.Is(err, spin.ErrCorrupt) || res.Received != 1 {
			t.Fatalf("err %v, result %+v\n%s", err, res, &out)
		}
		if atomic.LoadUint32(&ctl.SubscriberPID) != 0 {
			t.Fatal("subscriber did not detach")
		}
	})
	t.Run("dead_publisher", func(t *testing.T) {
		dir := t.TempDir()
		seg, _, _ := newFeed(t, dir)
		binary.LittleEndian.PutUint32(seg.Bytes()[layout.CreatorPIDOffset:], 1<<22-1) // no such process
		cfg := subCfg(dir)
		cfg.cpu = "none"
		var out syncBuffer
		if _, err := subscribe(context.Background(), cfg, &out, &out); err == nil || !strings.Contains(err.Error(), "is gone") {
			t.Fatalf("err %v", err)
		}
	})
	t.Run("gaps_and_disorder_are_counted", func(t *testing.T) {
		dir := t.TempDir()
		_, ctl, ring := newFeed(t, dir)
		for _, seq := range []uint64{0, 1, 5, 6, 2} { // 3 missing, then one backwards
			ring.TryPublish(&Tick{Seq: seq, Stamp: ^uint64(0)})
		}
		atomic.StoreUint64(&ctl.Published, 5)
		atomic.StoreUint32(&ctl.State, StateDone)
		cfg := subCfg(dir)
		cfg.cpu = "none"
		var out syncBuffer
		res, err := subscribe(context.Background(), cfg, &out, &out)
		if err == nil || res.Gaps != 3 || res.Disorder != 1 || res.Received != 5 {
			t.Fatalf("err %v, result %+v", err, res)
		}
	})
}

func TestAttach(t *testing.T) {
	keepRuntime(t)
	t.Run("second_subscriber_refused", func(t *testing.T) {
		dir := t.TempDir()
		newFeed(t, dir)
		opts := layout.Options{Name: "feed-test", Dir: dir, Fingerprint: feedFingerprint()}
		seg, _, ring, err := tryOpenFeed(opts)
		if err != nil {
			t.Fatal(err)
		}
		defer seg.Close()
		defer ring.Close()
		var out syncBuffer
		if _, err := subscribe(context.Background(), subCfg(dir), &out, &out); !errors.Is(err, errInUse) {
			t.Fatalf("second subscriber: %v", err)
		}
	})
	t.Run("other_layout_refused_at_once", func(t *testing.T) {
		dir := t.TempDir()
		seg, err := layout.Create(4096, layout.Options{Name: "feed-test", Dir: dir, Fingerprint: 42})
		if err != nil {
			t.Fatal(err)
		}
		defer seg.Close()
		var out syncBuffer
		start := time.Now()
		if _, err := subscribe(context.Background(), subCfg(dir), &out, &out); !errors.Is(err, layout.ErrLayoutMismatch) || time.Since(start) > 2*time.Second {
			t.Fatalf("err %v after %v", err, time.Since(start))
		}
	})
	t.Run("no_feed", func(t *testing.T) {
		cfg := subCfg(t.TempDir())
		cfg.wait = 30 * time.Millisecond
		var out syncBuffer
		if _, err := subscribe(context.Background(), cfg, &out, &out); err == nil || !strings.Contains(err.Error(), "no feed") {
			t.Fatalf("err %v", err)
		}
	})
	t.Run("no_subscriber", func(t *testing.T) {
		cfg := pubCfg(t.TempDir())
		cfg.wait = 30 * time.Millisecond
		var out syncBuffer
		if _, err := publish(context.Background(), cfg, &out, &out); err == nil || !strings.Contains(err.Error(), "no subscriber") {
			t.Fatalf("err %v", err)
		}
	})
	t.Run("dedicated_needs_its_godebug", func(t *testing.T) {
		dir := t.TempDir()
		newFeed(t, dir)
		cfg := subCfg(dir)
		cfg.dedicated, cfg.cpu = true, "none"
		var out syncBuffer
		if _, err := subscribe(context.Background(), cfg, &out, &out); !errors.Is(err, agent.ErrDedicated) && !agent.AsyncPreemptOff() {
			t.Fatalf("err %v", err)
		}
	})
}

func TestStaleSegment(t *testing.T) {
	keepRuntime(t)
	var errs syncBuffer
	t.Run("dead_creator_is_replaced", func(t *testing.T) {
		dir := t.TempDir()
		seg, _, _ := newFeed(t, dir)
		binary.LittleEndian.PutUint32(seg.Bytes()[layout.CreatorPIDOffset:], 1<<22-1)
		// What kill -9 leaves: the file, with no one behind it.
		if err := os.Link(seg.Path(), filepath.Join(dir, "stale")); err != nil {
			t.Fatal(err)
		}
		cfg := pubCfg(dir)
		cfg.name = "stale"
		seg2, _, _, err := createFeed(cfg, &errs)
		if err != nil {
			t.Fatal(err)
		}
		seg2.Close()
		if !strings.Contains(errs.String(), "which is gone") {
			t.Fatalf("stderr: %s", &errs)
		}
	})
	t.Run("live_creator_is_not", func(t *testing.T) {
		dir := t.TempDir()
		newFeed(t, dir)
		if _, _, _, err := createFeed(pubCfg(dir), &errs); err == nil || !strings.Contains(err.Error(), "in use by pid") {
			t.Fatalf("err %v", err)
		}
	})
	t.Run("foreign_file_is_not", func(t *testing.T) {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, "feed-test"), []byte("not a segment"), 0o600)
		if _, _, _, err := createFeed(pubCfg(dir), &errs); err == nil || !strings.Contains(err.Error(), "not a feed segment") {
			t.Fatalf("err %v", err)
		}
	})
}

func TestCommandLine(t *testing.T) {
	keepRuntime(t)
	ctx := context.Background()
	for _, args := range [][]string{
		nil,
		{"bogus"},
		{"publish", "-rate", "-1"},
		{"publish", "extra"},
		{"demo", "-duration", "0"},
		{"subscribe", "-batch", "0"},
		{"subscribe", "extra"},
		{"subscribe", "-cpu", "x"},
		{"publish", "-cpu", "-3"},
		{"publish", "-ring", "3"},
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
	if alive(0) || alive(1<<22) || !alive(uint32(os.Getpid())) {
		t.Fatal("alive")
	}
}

func TestLayout(t *testing.T) {
	s, err := layout.Of[Tick]()
	if err != nil || s.Size != TickLength {
		t.Fatalf("Tick: %v, %d bytes", err, s.Size)
	}
	if _, stride, _ := spin.RingLength[Tick](2, ringProtocol); stride != 64 {
		t.Fatalf("a tick and its sequence take %d bytes, want one 64-byte line", stride)
	}
	if _, err := layout.Of[control](); err != nil {
		t.Fatal(err)
	}
	if n, err := bodyLength(3); err == nil {
		t.Fatalf("capacity 3 gave %d", n)
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

func TestZeroAllocs(t *testing.T) {
	dir := t.TempDir()
	_, ctl, ring := newFeed(t, dir)
	opts := layout.Options{Name: "feed-test", Dir: dir, Fingerprint: feedFingerprint()}
	seg, _, subRing, err := tryOpenFeed(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer seg.Close()
	defer subRing.Close()
	s := newSubscriber(subRing, ctl, 64, ^uint64(0)>>1, func() {})
	p := &publisher{pub: batch.NewPublisher(ring), batch: 16, rng: 1}
	if a := testing.AllocsPerRun(1000, func() {
		p.duty()
		s.duty()
	}); a != 0 {
		t.Fatalf("%v allocations per publish+drain", a)
	}
	if s.win.ticks == 0 || s.win.gaps != 0 {
		t.Fatalf("window %+v", s.win)
	}
}
