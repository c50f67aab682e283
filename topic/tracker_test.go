package topic

import (
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestTrackerAllocs: a publisher's housekeeping makes no garbage at rest —
// ten looks (a scan among them) of a reliable topic with a long name and a
// subscriber process's segment mapped.
func TestTrackerAllocs(t *testing.T) {
	dir, name := t.TempDir(), strings.Repeat("long-topic-name.", 4)
	p, err := Create[tick](name, Options{Dir: dir, Policy: Reliable})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	s, err := Subscribe[tick](name, SubscribeOptions{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	os.WriteFile(dir+"/"+name+"other", nil, 0o600) // a name scan passes over
	tr := testTracker(t, p)
	tr.scan()
	if len(tr.named) != 1 {
		t.Fatalf("the tracker mapped %d segments by name, want the subscriber's", len(tr.named))
	}
	looks := func() {
		for i := 1; i <= 10; i++ {
			tr.look(i)
		}
	}
	looks() // the first: room in the epoll list and the evicted table
	if n := testing.AllocsPerRun(20, looks); n != 0 {
		t.Errorf("ten looks of the tracker allocate %v times", n)
	}
}

// testTracker returns a second tracker of p's topic, closed with tb, for
// a test to drive: no looks but the test's, and a copy of the topic
// segment to count its scans in (p's tracker counts its own in p's).
func testTracker(tb testing.TB, p *Publisher[tick]) *tracker {
	tr := makeTracker(p.subs.name, p.subs.epoch, slices.Clone(p.subs.pub), p.subs.opts)
	tb.Cleanup(tr.close)
	return tr
}

// TestDeadProcessAtOnce: a subscriber process's segment is watched by a
// pidfd, and the look after the process dies lets it go, however many
// other segments are mapped.
func TestDeadProcessAtOnce(t *testing.T) {
	p, dir := create(t, Options{})
	hostileSegments(t, dir, 2*livenessLooks)
	child, _ := startChild(t, "hang:"+dir)
	tr := testTracker(t, p)
	scanPass(t, tr)
	key := ""
	for n, ns := range tr.named {
		if strings.HasPrefix(n, "ticks~s"+strconv.Itoa(child.Process.Pid)+".") {
			key = n
		}
		if ns.pidfd < 0 {
			t.Fatalf("segment %s has no pidfd", n)
		}
	}
	if key == "" || len(tr.named) != 2*livenessLooks+1 {
		t.Fatalf("%d segments mapped, the child's %q", len(tr.named), key)
	}
	child.Process.Kill()
	child.Wait()
	tr.dropDead()
	if _, ok := tr.named[key]; ok || len(tr.named) != 2*livenessLooks {
		t.Fatalf("a look after the child died: %d segments mapped, the child's still: %v", len(tr.named), ok)
	}
	if _, err := os.Lstat(dir + "/" + key); !os.IsNotExist(err) {
		t.Fatalf("the dead child's name: %v", err)
	}
}

// TestPidfdOf: a segment gets a pidfd only of a process its name's link
// leads through, and only if the link leads to that segment.
func TestPidfdOf(t *testing.T) {
	p, dir := create(t, Options{})
	segs := hostileSegments(t, dir, 2)
	tr := testTracker(t, p)
	if err := os.Symlink("/tmp/elsewhere", dir+"/ticks~snotproc.1"); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		seg  int
		ok   bool
	}{
		{filepath.Base(segs[0].Path()), 0, true},
		{filepath.Base(segs[0].Path()), 1, false}, // the link leads to another segment
		{"ticks~snotproc.1", 0, false},
		{"ticks~smissing.1", 0, false},
	} {
		fd := tr.pidfdOf(dir+"/"+c.name, segs[c.seg])
		if fd >= 0 {
			unix.Close(fd)
		}
		if fd >= 0 != c.ok {
			t.Errorf("pidfdOf(%s, segment %d) = %d", c.name, c.seg, fd)
		}
	}
	for target, want := range map[string]int{"/proc/12/fd/3": 12, "/proc/x/fd/3": -1, "/proc/12/fdx/3": -1,
		"/tmp/12/fd/3": -1, "/proc/-1/fd/3": -1, "/proc/0/fd/3": -1, "/proc//fd/3": -1} {
		if got := linkPid(target); got != want {
			t.Errorf("linkPid(%q) = %d, want %d", target, got, want)
		}
	}
}

// TestDanglingNameLetGo: a segment whose name leads nowhere while its
// process lives (the process closed its descriptor, as exec does) is let
// go within watchedEvery looks per segment watched by a pidfd, and its
// name removed.
func TestDanglingNameLetGo(t *testing.T) {
	p, dir := create(t, Options{})
	segs := hostileSegments(t, dir, 3)
	tr := testTracker(t, p)
	scanPass(t, tr)
	if len(tr.watched) != 3 {
		t.Fatalf("%d segments watched by a pidfd, want 3", len(tr.watched))
	}
	name := segs[1].Path()
	if err := os.Remove(name); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/proc/"+strconv.Itoa(os.Getpid())+"/fd/999999", name); err != nil {
		t.Fatal(err)
	}
	for range 3 * watchedEvery {
		tr.dropDead()
	}
	if _, err := os.Lstat(name); len(tr.named) != 2 || !os.IsNotExist(err) {
		t.Fatalf("after %d looks: %d segments mapped, the dangling name: %v", 3*watchedEvery, len(tr.named), err)
	}
}

// TestTrackerFds: a publisher's tracker gives back every descriptor it
// took — the directory's, the pidfds and their epoll set — when it closes.
func TestTrackerFds(t *testing.T) {
	fds := func() int { e, _ := os.ReadDir("/proc/self/fd"); return len(e) }
	dir := t.TempDir()
	before := fds()
	for range 3 {
		p, err := Create[tick]("ticks", Options{Dir: dir, Policy: Reliable})
		if err != nil {
			t.Fatal(err)
		}
		s, err := Subscribe[tick]("ticks", SubscribeOptions{Dir: dir}) // a reliable join: p has mapped it
		if err != nil {
			t.Fatal(err)
		}
		p.subs.mu.RLock()
		watched := len(p.subs.watched)
		p.subs.mu.RUnlock()
		if watched != 1 {
			t.Fatalf("%d segments watched by a pidfd, want the subscriber's", watched)
		}
		s.Close()
		p.Close()
	}
	if n := fds(); n != before {
		t.Fatalf("%d descriptors open after three publishers came and went, %d before", n, before)
	}
}

// scanPass has tr scan until a pass over the directory ends.
func scanPass(t *testing.T, tr *tracker) {
	t.Helper()
	g := load(tr.pub, offScanGen)
	for range 1000 {
		if tr.scan(); load(tr.pub, offScanGen) != g {
			return
		}
	}
	t.Fatal("no pass ended in 1000 scans")
}

// TestDirReader: names lists every entry, across several getdents64
// calls, the same each time.
func TestDirReader(t *testing.T) {
	dir := t.TempDir()
	var want []string
	for i := range 400 { // ~40 bytes a record: two 8 KiB reads and a bit
		n := strings.Repeat("n", i%17) + "-" + strconv.Itoa(i)
		if err := os.WriteFile(dir+"/"+n, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		want = append(want, n)
	}
	want = append(want, ".", "..")
	slices.Sort(want)
	d := newDirReader(dir)
	defer d.close()
	for pass := range 2 {
		var got []string
		for n := range d.names {
			got = append(got, string(n))
		}
		slices.Sort(got)
		if d.err != nil || !slices.Equal(got, want) {
			t.Fatalf("pass %d: %d names (err %v), want %d", pass, len(got), d.err, len(want))
		}
	}
	seen := 0
	for range d.names {
		if seen++; seen == 3 {
			break
		}
	}
	if seen != 3 {
		t.Errorf("a loop that stops at the third name saw %d", seen)
	}
	missing := newDirReader(dir + "/none")
	for range missing.names {
		t.Fatal("a name in a missing directory")
	}
	if missing.err == nil {
		t.Error("a missing directory listed without an error")
	}
}

// BenchmarkTrackerLook: ten looks of a publisher's tracker (a scan among
// them) with segs subscriber segments linked by name, every one statted.
func BenchmarkTrackerLook(b *testing.B) {
	for _, segs := range []int{1, livenessLooks} {
		b.Run("segs="+strconv.Itoa(segs), func(b *testing.B) {
			p, dir := create(b, Options{})
			hostileSegments(b, dir, segs)
			tr := testTracker(b, p)
			tr.scan()
			if len(tr.named) != segs {
				b.Fatalf("%d segments mapped, want %d", len(tr.named), segs)
			}
			b.ReportAllocs()
			for b.Loop() {
				for i := 1; i <= 10; i++ {
					tr.look(i)
				}
			}
		})
	}
}

// TestScanBounded: names that look like subscriber segments and are not
// (3×scanOpens files) are tried scanOpens a scan, each once: the pass
// ends at the third scan and the next tries none; a name that another
// file takes is tried again; a subscriber's segment among them is mapped.
func TestScanBounded(t *testing.T) {
	p, dir := create(t, Options{})
	junk := func(i int) string { return dir + "/ticks~sjunk." + strconv.Itoa(i) }
	for i := range 3 * scanOpens {
		if err := os.WriteFile(junk(i), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	tr := testTracker(t, p)
	scans := func() uint64 { return load(tr.pub, offScanGen) }
	g0 := scans()
	for i := 1; i <= 4; i++ {
		tr.scan()
		wantPasses := uint64(max(i-2, 0))
		if tr.opened != min(i, 3)*scanOpens || scans()-g0 != wantPasses {
			t.Fatalf("scan %d: %d opens, %d passes; want %d, %d", i, tr.opened, scans()-g0, min(i, 3)*scanOpens, wantPasses)
		}
	}
	if len(tr.refused) != 3*scanOpens {
		t.Fatalf("%d names refused, want %d", len(tr.refused), 3*scanOpens)
	}
	// Another file under an old name (made before the old one goes: not
	// its inode), and a subscriber.
	if err := os.WriteFile(dir+"/new", nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(dir+"/new", junk(7)); err != nil {
		t.Fatal(err)
	}
	subscribe(t, dir)
	tr.scan()
	if tr.opened != 3*scanOpens+2 || len(tr.named) != 1 || len(tr.refused) != 3*scanOpens {
		t.Fatalf("%d opens, %d segments mapped, %d refused after a name changed file and a subscriber came", tr.opened, len(tr.named), len(tr.refused))
	}
	os.Remove(junk(3))
	tr.scan()
	if len(tr.refused) != 3*scanOpens-1 {
		t.Fatalf("%d names refused once one went, want %d", len(tr.refused), 3*scanOpens-1)
	}
}

// TestScanRetriesNotReady: a name whose segment is not ready (a sealed
// memfd whose header its creator has not written) is tried again at every
// pass; one that is not a segment at all (a plain file) is not.
func TestScanRetriesNotReady(t *testing.T) {
	p, dir := create(t, Options{})
	notReady(t, dir+"/ticks~sslow.1")
	if err := os.WriteFile(dir+"/ticks~splain.1", nil, 0o600); err != nil {
		t.Fatal(err)
	}
	tr := testTracker(t, p)
	for pass := 1; pass <= 3; pass++ {
		scanPass(t, tr)
		_, slow := tr.refused["ticks~sslow.1"]
		_, plain := tr.refused["ticks~splain.1"]
		if tr.opened != pass+1 || slow || !plain || len(tr.named) != 0 {
			t.Fatalf("pass %d: %d opens, not-ready refused %v, plain file refused %v, %d mapped", pass, tr.opened, slow, plain, len(tr.named))
		}
	}
}

// notReady links path to a sealed memfd whose header nobody writes: a
// subscriber segment not ready yet; closed with t.
func notReady(t *testing.T, path string) {
	t.Helper()
	fd, err := unix.MemfdCreate("not-ready", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	if err := unix.Ftruncate(fd, 8192); err != nil {
		t.Fatal(err)
	}
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, unix.F_SEAL_SHRINK|unix.F_SEAL_GROW); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/proc/"+strconv.Itoa(os.Getpid())+"/fd/"+strconv.Itoa(fd), path); err != nil {
		t.Fatal(err)
	}
}

// TestQuietDirectory: a pass over a directory unchanged since the last
// whole pass (its ctime settled) ends without listing it; a new name, or
// a name left to try again, has the next pass list it.
func TestQuietDirectory(t *testing.T) {
	p, dir := create(t, Options{})
	hostileSegments(t, dir, 2)
	tr := testTracker(t, p)
	settle := func() { // as if the last listing began a while after the last change
		var st unix.Stat_t
		if err := unix.Stat(dir, &st); err != nil {
			t.Fatal(err)
		}
		tr.quiet.at = time.Unix(st.Ctim.Unix()).Add(2 * quietTick)
	}
	scans := func() uint64 { return load(tr.pub, offScanGen) }
	scanPass(t, tr)
	settle()
	g, listed := scans(), tr.listed
	tr.scan()
	if scans() != g+1 || tr.listed != listed {
		t.Fatalf("a quiet directory: %d passes, %d listings; want 1, 0", scans()-g, tr.listed-listed)
	}
	// settle pretended the last listing began 2×quietTick after the last
	// change; where the kernel stamps ctime from a clock that moves a tick
	// (up to 10 ms) at a time, a change within that tick would keep the
	// ctime — what the margin covers for a real listing — so let it pass.
	time.Sleep(25 * time.Millisecond)
	subscriberSegment(t, dir, "ticks~snew.1")
	tr.scan()
	if tr.listed != listed+1 || len(tr.named) != 3 {
		t.Fatalf("after a new name: %d listings, %d mapped; want 1, 3", tr.listed-listed, len(tr.named))
	}
	if err := os.WriteFile(dir+"/ticks~sfile.1", nil, 0o600); err != nil { // refused for good: nothing to retry
		t.Fatal(err)
	}
	tr.scan()
	settle()
	listed = tr.listed
	tr.scan()
	if tr.listed != listed {
		t.Fatal("a directory with a refused name and nothing to retry was listed again")
	}
	tr.quiet.at = time.Now().Add(-quietMax) // the last listing too old
	tr.scan()
	if tr.listed != listed+1 {
		t.Fatal("a directory last listed quietMax ago was not listed")
	}
	notReady(t, dir+"/ticks~sslow.1") // a name to retry
	tr.scan()
	settle()
	listed = tr.listed
	tr.scan()
	if tr.listed != listed+1 {
		t.Fatal("a directory with a name to retry was not listed again")
	}
}

// TestScanEntriesBounded: a scan lists scanEntries entries at most; a
// pass over a larger directory takes several, and the scan count goes up
// at its end only.
func TestScanEntriesBounded(t *testing.T) {
	p, dir := create(t, Options{})
	for i := range scanEntries {
		if err := os.WriteFile(dir+"/other."+strconv.Itoa(i), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	tr := testTracker(t, p)
	g0 := load(tr.pub, offScanGen)
	tr.scan() // scanEntries of the scanEntries+3 (".", "..", the topic)
	if g := load(tr.pub, offScanGen); g != g0 {
		t.Fatalf("a scan of %d entries of %d ended a pass", scanEntries, scanEntries+3)
	}
	tr.scan()
	if g := load(tr.pub, offScanGen); g != g0+1 {
		t.Fatalf("two scans did not end a pass over %d entries", scanEntries+3)
	}
}

// TestHousekeeping: ten publishers are looked after by one goroutine,
// each in turn; it ends when the last publisher closes.
func TestHousekeeping(t *testing.T) {
	dir := t.TempDir()
	if !eventually(func() bool { return len(keeperTrackers()) == 0 }) {
		t.Fatal("trackers of earlier tests still looked after")
	}
	g0 := runtime.NumGoroutine()
	var ps []*Publisher[tick]
	for i := range 10 {
		p, err := Create[tick]("t"+strconv.Itoa(i), Options{Dir: dir})
		if err != nil {
			t.Fatal(err)
		}
		ps = append(ps, p)
	}
	if g := runtime.NumGoroutine() - g0; g > 1 {
		t.Errorf("ten publishers started %d goroutines, want the one housekeeping", g)
	}
	looked := func(p *Publisher[tick]) int {
		p.subs.lookMu.Lock()
		defer p.subs.lookMu.Unlock()
		return p.subs.lookN
	}
	if !eventually(func() bool { return !slices.ContainsFunc(ps, func(p *Publisher[tick]) bool { return looked(p) < 20 }) }) {
		t.Fatal("a publisher not looked after")
	}
	for _, p := range ps {
		p.Close()
	}
	n := looked(ps[0])
	if !eventually(func() bool { return runtime.NumGoroutine() <= g0 }) {
		t.Fatalf("%d goroutines once every publisher closed, %d before", runtime.NumGoroutine(), g0)
	}
	ps[0].subs.lookOnce() // as a round that began before the close would
	if looked(ps[0]) != n {
		t.Fatalf("a closed tracker looked at %d more times", looked(ps[0])-n)
	}
}

// keeperTrackers returns the trackers the housekeeping goroutine looks after.
func keeperTrackers() []*tracker {
	housekeeping.mu.Lock()
	defer housekeeping.mu.Unlock()
	return slices.Clone(housekeeping.trackers)
}
