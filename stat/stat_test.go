package stat

import (
	"bufio"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/spinwire/spinwire/layout"
	"github.com/spinwire/spinwire/link"
	"github.com/spinwire/spinwire/spin"
	"github.com/spinwire/spinwire/topic"
)

const childEnv = "STAT_TEST_CHILD_DIR"

func TestMain(m *testing.M) {
	if dir := os.Getenv(childEnv); dir != "" {
		os.Exit(child(dir))
	}
	if dir := os.Getenv(scanEnv); dir != "" {
		os.Exit(scanChild(dir))
	}
	os.Exit(m.Run())
}

// child registers one custom endpoint, says READY and waits to be killed.
func child(dir string) int {
	reg, err := NewRegistry(Options{Dir: dir})
	if err != nil {
		return 1
	}
	e, err := reg.Register(KindCustom, "child", "", 0, nil)
	if err != nil {
		return 1
	}
	e.Set(0, 42)
	os.Stdout.WriteString("READY\n")
	time.Sleep(time.Minute)
	return 0
}

type tick struct {
	Seq   uint64
	Price int64
}

func newRing(t testing.TB, capacity int) *spin.Ring[tick] {
	n, _, err := spin.RingLength[tick](capacity, spin.InSlot)
	if err != nil {
		t.Fatal(err)
	}
	r, err := spin.NewRing[tick](region(t, n), spin.RingOptions{Capacity: capacity, Protocol: spin.InSlot})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestRegistryRoundTrip: a ring and a custom endpoint registered in one
// process are read back by Scan with their kinds, names, type and
// counters as last sampled; a closed endpoint disappears; Close removes
// the segment.
func TestRegistryRoundTrip(t *testing.T) {
	dir := t.TempDir()
	reg, err := NewRegistry(Options{Dir: dir, Interval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	r := newRing(t, 16)
	re, err := WatchRing(reg, "ticks", r)
	if err != nil {
		t.Fatal(err)
	}
	ce, _ := reg.Register(KindCustom, "mine", "none", 7, nil)
	for i := range 5 {
		r.TryPublish(&tick{Seq: uint64(i)})
	}
	r.Poll(2, func(*tick) {})
	ce.Set(3, 99)
	re.Histogram().Record(150)
	reg.sampleAll()
	ps, err := Scan(dir)
	if err != nil || len(ps) != 1 || ps[0].Err != nil || len(ps[0].Endpoints) != 2 {
		t.Fatalf("%v %+v", err, ps)
	}
	p := ps[0]
	if p.PID != uint32(os.Getpid()) || p.Command != filepath.Base(os.Args[0]) || p.Interval != time.Hour {
		t.Fatalf("process %+v", p)
	}
	ring := p.Endpoints[0]
	consumed, _ := ring.Counter("consumed")
	published, _ := ring.Counter("published")
	if ring.Kind != KindRing || ring.Name != "ticks" || !strings.Contains(ring.Type, "tick") || consumed != 2 || published != 5 {
		t.Fatalf("ring %+v", ring)
	}
	if l := ring.Latency(); l.Count != 1 || l.P50 > 150 || l.P50 < 128 {
		t.Fatalf("latency %+v", l)
	}
	if c := p.Endpoints[1]; c.Kind != KindCustom || c.Counters[3] != 99 || c.Fingerprint != 7 {
		t.Fatalf("custom %+v", c)
	}
	ce.Close()
	if ps, _ := Scan(dir); len(ps[0].Endpoints) != 1 {
		t.Fatalf("closed endpoint still listed: %+v", ps[0].Endpoints)
	}
	if err := reg.Close(); err != nil {
		t.Fatal(err)
	}
	if ps, _ := Scan(dir); len(ps) != 0 {
		t.Fatalf("closed registry still listed: %+v", ps)
	}
}

// TestTopicCounters: a topic's publisher and subscriber publish their
// counters: published, subscribers; received, lag.
func TestTopicCounters(t *testing.T) {
	reg, dir := testRegistry(t)
	tdir := t.TempDir()
	p, err := topic.Create[tick]("quotes", topic.Options{Dir: tdir})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	pe, _ := WatchPublisher(reg, "quotes", p)
	s, se, err := SubscribeWatched[tick](reg, "quotes.sub", "quotes", topic.SubscribeOptions{Dir: tdir})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	defer pe.Close()
	defer se.Close()
	for i := range 5 {
		p.TryPublish(&tick{Seq: uint64(i)})
	}
	s.Poll(func(*tick) {}, 2)
	reg.sampleAll()
	ps, _ := Scan(dir)
	pub, sub := ps[0].Endpoints[0], ps[0].Endpoints[1]
	if v, _ := pub.Counter("published"); v != 5 || pub.Kind != KindTopicPub {
		t.Fatalf("publisher %+v", pub)
	}
	if r, _ := sub.Counter("received"); r != 2 {
		t.Fatalf("subscriber %+v", sub)
	}
	if l, _ := sub.Counter("lag"); l != 3 {
		t.Fatalf("subscriber %+v", sub)
	}
	if l := sub.Latency(); l.Count != 1 { // position 0 is stamped
		t.Fatalf("subscriber latency %+v", l)
	}
	if _, _, err := SubscribeWatched[tick](reg, "x", "nothing", topic.SubscribeOptions{Dir: tdir}); err == nil {
		t.Fatal("subscribed to nothing")
	}
	if _, err := WatchSubscriber(reg, "quotes.sub2", s); err != nil {
		t.Fatal(err)
	}
	samplingAllocates(t, reg)
}

// samplingAllocates fails t if a sampling pass of reg allocates: the
// registry's goroutine samples for as long as the process lives.
func samplingAllocates(t *testing.T, reg *Registry) {
	t.Helper()
	if a := testing.AllocsPerRun(20, reg.sampleAll); a != 0 {
		t.Errorf("a sampling pass allocates %v times", a)
	}
}

// TestWatchQueuesAndConn: an MPSC ring, a Log and a link Conn registered
// with WatchMPSC, WatchLog and WatchConn publish their cursors (a Log's in
// bytes) and capacity, and the Conn's counters, under their names.
func TestWatchQueuesAndConn(t *testing.T) {
	reg, dir := testRegistry(t)
	qn, _, err := spin.RingLength[tick](8, spin.InSlot)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := spin.LogLength(4096)
	if err != nil {
		t.Fatal(err)
	}
	q, err := spin.NewMPSC[tick](region(t, qn), spin.MPSCOptions{Capacity: 8})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		q.TryPublish(&tick{Seq: uint64(i)})
	}
	q.Poll(2, func(*tick) {})
	l, err := spin.NewLog(region(t, ln), 4096)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		l.TryWrite(7, make([]byte, 10))
	}
	l.Poll(1, func(uint32, []byte) {})
	ldir := t.TempDir()
	s, err := link.Listen[tick, tick]("svc", link.Options{Dir: ldir})
	if err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	go s.Serve(func(q, r *tick) { <-release })
	defer s.Close()
	c, err := link.Dial[tick, tick]("svc", link.DialOptions{Dir: ldir})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var r tick
	if err := c.Call(time.Now().Add(20*time.Millisecond), &tick{}, &r); err != link.ErrTimeout {
		t.Fatalf("call to a held handler: %v", err)
	}
	close(release)
	for _, w := range []func() (*Endpoint, error){
		func() (*Endpoint, error) { return WatchMPSC(reg, "orders", q) },
		func() (*Endpoint, error) { return WatchLog(reg, "journal", l) },
		func() (*Endpoint, error) { return WatchConn(reg, "svc.client", c) },
	} {
		if _, err := w(); err != nil {
			t.Fatal(err)
		}
	}
	reg.sampleAll()
	ps, _ := Scan(dir)
	if len(ps) != 1 || len(ps[0].Endpoints) != 3 {
		t.Fatalf("%+v", ps)
	}
	e := ps[0].Endpoints
	lh, lt := l.Cursors()
	for _, c := range []struct {
		ep      Snapshot
		kind    Kind
		name    string
		counter string
		want    uint64
	}{
		{e[0], KindMPSC, "orders", "consumed", 2}, {e[0], KindMPSC, "orders", "published", 5},
		{e[0], KindMPSC, "orders", "capacity", 8},
		{e[1], KindLog, "journal", "consumed_bytes", lh}, {e[1], KindLog, "journal", "published_bytes", lt},
		{e[1], KindLog, "journal", "capacity_bytes", 4096},
		{e[2], KindLinkConn, "svc.client", "timeouts", 1}, {e[2], KindLinkConn, "svc.client", "redials", 0},
	} {
		got, ok := c.ep.Counter(c.counter)
		if c.ep.Kind != c.kind || c.ep.Name != c.name || !ok || got != c.want {
			t.Errorf("%s %s = %d (%v), want %d: %+v", c.name, c.counter, got, ok, c.want, c.ep)
		}
	}
	if lt != 3*lh || lh == 0 {
		t.Errorf("log cursors %d, %d after three records written and one read", lh, lt)
	}
	samplingAllocates(t, reg)
}

// region returns the body of a fresh segment of n bytes, closed with the
// test.
func region(t testing.TB, n int) []byte {
	t.Helper()
	seg, err := layout.Create(n, layout.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { seg.Close() })
	return seg.Body()
}

// TestDialWatched: a Conn dialled through DialWatched publishes its
// counters and one call's latency in link.LatencyEvery.
func TestDialWatched(t *testing.T) {
	reg, dir := testRegistry(t)
	ldir := t.TempDir()
	s, err := link.Listen[tick, tick]("svc", link.Options{Dir: ldir})
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(func(q, r *tick) { *r = *q })
	defer s.Close()
	c, e, err := DialWatched[tick, tick](reg, "svc.client", "svc", link.DialOptions{Dir: ldir})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	defer e.Close()
	calls(t, c, 3*link.LatencyEvery)
	if ep := onlyEndpoint(t, reg, dir); ep.Kind != KindLinkConn || ep.Latency().Count != 3 || ep.Latency().P50 == 0 {
		t.Fatalf("%+v latency %+v", ep, ep.Latency())
	}
	if _, _, err := DialWatched[tick, tick](reg, "x", "nothing", link.DialOptions{Dir: ldir}); err == nil {
		t.Fatal("dialled nothing")
	}
}

// TestWatchServer: a link server's counters, pushes among them, reach
// the registry under their names.
func TestWatchServer(t *testing.T) {
	reg, dir := testRegistry(t)
	ldir := t.TempDir()
	s, err := link.ListenPush[tick, tick, tick]("svc", link.Options{Dir: ldir, PushDepth: 2})
	if err != nil {
		t.Fatal(err)
	}
	go s.ServeCaller(func(c *link.Caller, q, r *tick) {
		*r = *q
		for range 3 {
			s.Push(c.Peer(), q)
		}
	})
	defer s.Close()
	e, err := WatchServer(reg, "svc", s.Server)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	c, err := link.DialPush[tick, tick, tick]("svc", link.DialOptions{Dir: ldir})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var r tick
	if err := c.Call(time.Now().Add(5*time.Second), &tick{Seq: 1}, &r); err != nil {
		t.Fatal(err)
	}
	ep := onlyEndpoint(t, reg, dir)
	want := map[string]uint64{"conns": 1, "pushes": 2, "push_full": 1, "push_gone": 0}
	for n, v := range want {
		if got, ok := ep.Counter(n); !ok || got != v {
			t.Errorf("%s = %d, %v; want %d", n, got, ok, v)
		}
	}
	samplingAllocates(t, reg)
}

// TestListenWatched: a server listened through the registry samples the
// service time of one request in link.LatencyEvery into its histogram.
func TestListenWatched(t *testing.T) {
	reg, dir := testRegistry(t)
	ldir := t.TempDir()
	s, e, err := ListenWatched[tick, tick](reg, "svc", "svc", link.Options{Dir: ldir})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	go s.Serve(func(q, r *tick) { *r = *q })
	defer s.Close()
	c, err := link.Dial[tick, tick]("svc", link.DialOptions{Dir: ldir})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	calls(t, c, 2*link.LatencyEvery)
	// Count, not the values: a service time under one tick of the clock
	// (arm64's generic timer may tick every 40 ns) is recorded as 0. The
	// server records a sample after it answers, so the last one may land
	// after the call returns: wait for it, at most 5 s.
	ep := onlyEndpoint(t, reg, dir)
	for deadline := time.Now().Add(5 * time.Second); ep.Latency().Count < 2 && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
		ep = onlyEndpoint(t, reg, dir)
	}
	if ep.Kind != KindLinkServer || ep.Latency().Count != 2 || ep.Latency().Max > uint64(time.Second) {
		t.Fatalf("%+v latency %+v", ep, ep.Latency())
	}
	if _, _, err := ListenWatched[tick, tick](reg, "x", "svc", link.Options{Dir: ldir}); err == nil {
		t.Fatal("a second server on the name")
	}
}

// testRegistry makes a registry that samples only when a test says so
// (sampleAll), in a directory of its own; both go with the test.
func testRegistry(t *testing.T) (*Registry, string) {
	t.Helper()
	dir := t.TempDir()
	reg, err := NewRegistry(Options{Dir: dir, Interval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Close() })
	return reg, dir
}

// onlyEndpoint samples reg and returns the one endpoint a scan of dir
// finds.
func onlyEndpoint(t *testing.T, reg *Registry, dir string) Snapshot {
	t.Helper()
	reg.sampleAll()
	ps, _ := Scan(dir)
	if len(ps) != 1 || len(ps[0].Endpoints) != 1 {
		t.Fatalf("%+v", ps)
	}
	return ps[0].Endpoints[0]
}

// TestKilledProcessVanishes: a SIGKILLed process's segment is gone at the
// next Scan, and Scan removes its dangling name.
func TestKilledProcessVanishes(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+dir)
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	if line, err := bufio.NewReader(out).ReadString('\n'); err != nil || line != "READY\n" {
		t.Fatalf("child said %q, %v", line, err)
	}
	ps, err := Scan(dir)
	if err != nil || len(ps) != 1 || len(ps[0].Endpoints) != 1 || ps[0].Endpoints[0].Counters[0] != 42 || ps[0].PID != uint32(cmd.Process.Pid) {
		t.Fatalf("%v %+v", err, ps)
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	if ps, err := Scan(dir); err != nil || len(ps) != 0 {
		t.Fatalf("after the kill: %v %+v", err, ps)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Fatalf("dangling names left: %v", ents)
	}
}

// TestHostileSegment: whatever a process of the same uid writes in its
// own segment, Scan reports it as corrupt or sanitises it, and goes on
// with the other segments.
func TestHostileSegment(t *testing.T) {
	dir := t.TempDir()
	good, _ := NewRegistry(Options{Dir: dir, Interval: time.Hour})
	defer good.Close()
	good.Register(KindCustom, "good", "", 0, nil)
	bad, _ := NewRegistry(Options{Dir: dir, Interval: time.Hour})
	defer bad.Close()
	e, _ := bad.Register(KindCustom, "bad", "", 0, nil)
	m := bad.mem
	copy(m[e.off+entOffName:], "\x1b[2Jevil\x00")
	for _, c := range []struct {
		name string
		poke func()
		want string
	}{
		{"escape", func() {}, ""},
		{"state", func() { store32(m, e.off+entOffState, 9) }, "state 9"},
		{"slots", func() { store32(m, offSlots, 1<<30) }, "slots"},
		{"version", func() { store32(m, offVersion, 99) }, "version 99"},
		{"magic", func() { store(m, offMagic, 1) }, "magic"},
	} {
		c.poke()
		ps, err := Scan(dir)
		if err != nil || len(ps) != 2 {
			t.Fatalf("%s: %v %+v", c.name, err, ps)
		}
		var hostile, honest *Process
		for i := range ps {
			if ps[i].Name == bad.seg.Path()[len(dir)+1:] {
				hostile = &ps[i]
			} else {
				honest = &ps[i]
			}
		}
		if honest.Err != nil || len(honest.Endpoints) != 1 {
			t.Fatalf("%s: the honest segment: %+v", c.name, honest)
		}
		if c.want == "" {
			if hostile.Err != nil || hostile.Endpoints[0].Name != "?[2Jevil" {
				t.Fatalf("%s: %+v", c.name, hostile)
			}
		} else if !errors.Is(hostile.Err, ErrCorrupt) || !strings.Contains(hostile.Err.Error(), c.want) {
			t.Fatalf("%s: %v", c.name, hostile.Err)
		}
	}
}

// TestPrintable: every byte outside printable ASCII becomes '?', one for
// one (a rune of two bytes, two); the rest is kept.
func TestPrintable(t *testing.T) {
	for in, want := range map[string]string{"": "", "ticks 1.2": "ticks 1.2", "\x1b[2J\xff": "?[2J?", "é\x00\x7f~": "????~"} {
		if got := Printable(in); got != want {
			t.Errorf("Printable(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzDecode: any body decodes to an error or to endpoints, without a
// panic or a read outside the body.
func FuzzDecode(f *testing.F) {
	reg, err := NewRegistry(Options{Dir: f.TempDir(), Interval: time.Hour, Slots: 2})
	if err != nil {
		f.Fatal(err)
	}
	reg.Register(KindRing, "x", "y", 1, nil)
	f.Add(append([]byte(nil), reg.mem...))
	reg.Close()
	f.Fuzz(func(t *testing.T, b []byte) {
		m := make([]uint64, (len(b)+7)/8) // aligned like a mapping
		body := unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(m))), len(b))
		copy(body, b)
		var p Process
		if err := decode(body, &p); err == nil && len(p.Endpoints) > (len(b)-procHeaderLength)/entryLength {
			t.Fatalf("%d endpoints from %d bytes", len(p.Endpoints), len(b))
		}
	})
}

// TestHistogramBuckets: buckets are monotonic, each value falls in the
// bucket whose low edge is at most it and within 25 % of it.
func TestHistogramBuckets(t *testing.T) {
	prev := -1
	for _, v := range []uint64{0, 1, 7, 8, 9, 15, 16, 100, 1000, 1e6, 1e9, 1 << 33, 1 << 40} {
		i := bucket(v)
		if i < prev || i >= Buckets {
			t.Fatalf("bucket(%d) = %d after %d", v, i, prev)
		}
		prev = i
		if lo := bucketLow(i); lo > v || (i < Buckets-1 && v > lo+lo/4+1) {
			t.Fatalf("value %d in bucket %d, low edge %d", v, i, lo)
		}
	}
	var counts [Buckets]uint64
	counts[bucket(100)] = 90
	counts[bucket(1000)] = 10
	if p := percentiles(counts[:]); p.Count != 100 || p.P50 != bucketLow(bucket(100)) || p.P99 != bucketLow(bucket(1000)) || p.Max != p.P99 {
		t.Fatalf("%+v", p)
	}
	// 90 of 100 at or below 100 make P90 100; one sample more above
	// makes it 1000 (rank 90.9, rounded to 91).
	if p := percentiles(counts[:]); p.P90 != bucketLow(bucket(100)) {
		t.Fatalf("90 of 100 at 100: %+v", p)
	}
	counts[bucket(1000)]++
	if p := percentiles(counts[:]); p.P90 != bucketLow(bucket(1000)) {
		t.Fatalf("90 of 101 at 100: %+v", p)
	}
	counts[bucket(1000)]--
	for _, c := range []struct{ n, q, want uint64 }{
		{1, 50, 1}, {1, 99, 1}, {2, 50, 1}, {3, 50, 2}, {4, 50, 2}, {100, 99, 99}, {101, 99, 100},
		{1006, 90, 905}, {^uint64(0), 50, 1 << 63}, {^uint64(0), 99, ^uint64(0)/100*99 + 15},
	} {
		if r := percentileRank(c.n, c.q); r != c.want {
			t.Errorf("percentileRank(%d, %d) = %d, want %d", c.n, c.q, r, c.want)
		}
	}
	counts[0] = ^uint64(0) // a hostile count saturates
	if p := percentiles(counts[:]); p.Count != ^uint64(0) {
		t.Fatalf("%+v", p)
	}
	var h *Histogram
	h.Record(5) // nil: no-op
	if a := testing.AllocsPerRun(100, func() { (&Histogram{b: counts[:]}).Record(77) }); a != 0 {
		t.Fatalf("%v allocations per Record", a)
	}
}

// calls makes n calls on c, failing the test at the first error.
func calls(t *testing.T, c *link.Conn[tick, tick], n int) {
	t.Helper()
	var r tick
	for i := range n {
		if err := c.Call(time.Now().Add(5*time.Second), &tick{Seq: uint64(i)}, &r); err != nil {
			t.Fatal(err)
		}
	}
}

// TestDefaultDir: with Dir empty, a registry and Scan meet in DefaultDir,
// "stat" in link.Dir(), made with mode 0700; a stat directory that others
// may read is refused by both.
func TestDefaultDir(t *testing.T) {
	run := t.TempDir()
	t.Setenv("XDG_RUNTIME_DIR", run)
	reg, err := NewRegistry(Options{Interval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	e, _ := reg.Register(KindCustom, "mine", "", 0, nil)
	e.Set(0, 5)
	reg.sampleAll()
	ps, err := Scan("")
	if err != nil || len(ps) != 1 || len(ps[0].Endpoints) != 1 || ps[0].Endpoints[0].Counters[0] != 5 {
		t.Fatalf("%v %+v", err, ps)
	}
	reg.Close()
	d := filepath.Join(run, "spinwire", "stat")
	if fi, err := os.Lstat(d); err != nil || fi.Mode() != os.ModeDir|0o700 {
		t.Fatalf("%s: %v %v", d, fi.Mode(), err)
	}
	os.Chmod(d, 0o744)
	_, err1 := NewRegistry(Options{})
	_, err2 := Scan("")
	for _, err := range []error{err1, err2} {
		if err == nil || !strings.Contains(err.Error(), "stat: directory "+d+" must be") {
			t.Errorf("mode 0744: %v", err)
		}
	}
}
