package topic

import (
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
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
	tr := makeTracker(p.subs.name, p.subs.epoch, p.subs.pub, p.subs.opts)
	tr.scan()
	if len(tr.named) != 1 {
		t.Fatalf("the tracker mapped %d segments by name, want the subscriber's", len(tr.named))
	}
	defer func() { go tr.run(); tr.close() }()
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
			tr := makeTracker(p.subs.name, p.subs.epoch, p.subs.pub, p.subs.opts)
			defer func() { go tr.run(); tr.close() }()
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
