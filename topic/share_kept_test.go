package topic

import (
	"errors"
	"os"
	"testing"
	"time"

	"github.com/spinwire/spinwire/layout"
	"github.com/spinwire/spinwire/link"
	"golang.org/x/sys/unix"
)

// bringer brings subscriber segments to a publisher's tracker as its share
// socket would (adopt), each over a connection whose other end it holds.
type bringer struct {
	t     *testing.T
	tr    *tracker
	segs  []*subSeg
	ends  map[peer][]int // the other ends of the connections kept, by peer
	close []int          // everything else to close at the end
}

func newBringer(t *testing.T) *bringer {
	var lim unix.Rlimit
	if unix.Getrlimit(unix.RLIMIT_NOFILE, &lim) != nil || lim.Cur < 3*maxShareConnsPerUID+4*maxSubSegs+1000 {
		t.Skipf("needs %d descriptors", 3*maxShareConnsPerUID+4*maxSubSegs+1000)
	}
	p, _ := create(t, Options{Capacity: 64})
	k := &bringer{t: t, tr: p.subs, ends: map[peer][]int{}}
	t.Cleanup(func() {
		for _, fds := range k.ends {
			k.close = append(k.close, fds...)
		}
		for _, fd := range k.close {
			unix.Close(fd)
		}
		for _, ss := range k.segs {
			ss.seg.Close()
		}
	})
	return k
}

// seg makes a subscriber segment.
func (k *bringer) seg() *subSeg {
	ss, err := newSubSeg(layout.Options{})
	if err != nil {
		k.t.Fatal(err)
	}
	k.segs = append(k.segs, ss)
	return ss
}

// bring hands ss to the tracker over a new connection from by.
func (k *bringer) bring(ss *subSeg, by peer) adoptResult {
	fd, err := unix.Dup(ss.seg.Fd())
	if err != nil {
		k.t.Fatal(err)
	}
	pair, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		k.t.Fatal(err)
	}
	r := k.tr.adopt(fd, pair[0], by)
	if r == adoptKept {
		k.ends[by] = append(k.ends[by], pair[1])
	} else {
		k.close = append(k.close, pair[0], pair[1])
	}
	return r
}

// want fails the test unless bringing ss from by gives r.
func (k *bringer) want(ss *subSeg, by peer, r adoptResult, what string) {
	k.t.Helper()
	if got := k.bring(ss, by); got != r {
		k.t.Fatalf("%s: adopt gave %d, want %d", what, got, r)
	}
}

// hangUp closes by's connections and waits until the tracker has let
// them go.
func (k *bringer) hangUp(by peer) {
	for _, fd := range k.ends[by] {
		unix.Close(fd)
	}
	delete(k.ends, by)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		k.tr.mu.Lock()
		k.tr.dropClosed(k.tr.hungUp(k.tr.ep))
		left := 0
		for _, c := range k.tr.kept {
			if c.by == by {
				left++
			}
		}
		k.tr.mu.Unlock()
		if left == 0 {
			return
		}
		if time.Now().After(deadline) {
			k.t.Fatalf("%d connections of %+v still kept", left, by)
		}
	}
}

// TestShareKeepLimits: what subscribers of other uids bring over the share
// socket is kept up to the bounds for one process, one uid and all
// (share_kept.go), each refused with adoptFull beyond its bound while other
// processes and uids are still taken; what a peer's connections brought
// is given back when they close.
func TestShareKeepLimits(t *testing.T) {
	k := newBringer(t)
	a1, a2, b := peer{1000, 1}, peer{1000, 2}, peer{1001, 3}
	var a1segs []*subSeg
	for range maxShareSegsPerProc {
		ss := k.seg()
		a1segs = append(a1segs, ss)
		k.want(ss, a1, adoptKept, "a process's segment within its bound")
	}
	k.want(k.seg(), a1, adoptFull, "a process's segment beyond its bound")
	for i := 1; i < maxShareSegsPerUID/maxShareSegsPerProc; i++ {
		for range maxShareSegsPerProc {
			k.want(k.seg(), peer{1000, int32(100 + i)}, adoptKept, "a uid's segment within its bound")
		}
	}
	k.want(k.seg(), a2, adoptFull, "a uid's segment beyond its bound")
	k.want(k.seg(), b, adoptKept, "another uid's segment")

	// Connections: uid 1000 has one a segment; more to a1's segments.
	for n := maxShareSegsPerUID; n < maxShareConnsPerUID; n++ {
		k.want(a1segs[n%len(a1segs)], a1, adoptKept, "a uid's connection within its bound")
	}
	k.want(a1segs[0], a1, adoptFull, "a uid's connection beyond its bound")
	k.want(k.segs[len(k.segs)-1], b, adoptKept, "another uid's connection")

	k.hangUp(a1)
	k.want(k.seg(), a2, adoptKept, "a uid's segment once others' closed")
	k.tr.mu.Lock()
	use, procs := *k.tr.use[1000], len(k.tr.procSegs)
	k.tr.mu.Unlock()
	if want := (shareUse{conns: maxShareSegsPerUID - maxShareSegsPerProc + 1, segs: maxShareSegsPerUID - maxShareSegsPerProc + 1}); use != want || procs != maxShareSegsPerUID/maxShareSegsPerProc+1 {
		t.Fatalf("uid 1000 keeps %+v (want %+v) over %d processes", use, want, procs)
	}
}

// TestShareKeepAll: with four uids at their bound, every segment a
// publisher maps is taken, and a fifth uid is refused; the uids' closes
// give everything back.
func TestShareKeepAll(t *testing.T) {
	k := newBringer(t)
	const uids = maxSubSegs / maxShareSegsPerUID
	for u := range uint32(uids) {
		for i := range maxShareSegsPerUID {
			k.want(k.seg(), peer{2000 + u, int32(i)}, adoptKept, "a segment within every bound")
		}
	}
	k.want(k.seg(), peer{3000, 1}, adoptFull, "a segment beyond the bound in all")
	for u := range uint32(uids) {
		for i := range maxShareSegsPerUID {
			k.hangUp(peer{2000 + u, int32(i)})
		}
	}
	k.tr.mu.Lock()
	defer k.tr.mu.Unlock()
	if len(k.tr.segs) != 0 || k.tr.nconns != 0 || len(k.tr.use) != 0 || len(k.tr.procSegs) != 0 || len(k.tr.segBy) != 0 {
		t.Fatalf("left: %d segments, %d connections, %d uids, %d processes, %d owners",
			len(k.tr.segs), k.tr.nconns, len(k.tr.use), len(k.tr.procSegs), len(k.tr.segBy))
	}
}

// TestShareStallRefused: a subscriber of a reliable shared topic that
// never reads, and comes back under a new token each time it is evicted
// (as one that writes its cell itself can), holds the publisher up
// maxUIDStalls times; then its uid is let go whole — evicted, its segment
// unmapped, its set-ups refused with ErrBusy — and the publisher publishes
// freely, until the window has passed and the uid may subscribe again.
func TestShareStallRefused(t *testing.T) {
	const stall = 50 * time.Millisecond // the uid is refused for 60 of them: 3 s
	p, _ := create(t, Options{Capacity: 64, Policy: Reliable, StallTimeout: stall,
		Share: link.Policy{UIDs: []uint32{12345}}, Logf: t.Logf})
	sdir := SharedDir(uint32(os.Getuid()))
	s, err := Subscribe[tick]("ticks", SubscribeOptions{Dir: sdir})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	n := uint64(0)
	for i := range maxUIDStalls {
		start := time.Now()
		for range 2 * 64 { // beyond the capacity: a stall, then the eviction
			if err := p.Publish(&tick{Seq: n}); err != nil {
				t.Fatal(err)
			}
			n++
		}
		if time.Since(start) < stall {
			t.Fatalf("stall %d: published %d without waiting", i, 2*64)
		}
		s.cell.fill(s.Epoch(), n, cellActive) // back, under a new token
	}
	if _, err := s.Poll(func(*tick) {}, 0); !errors.Is(err, ErrEvicted) {
		t.Fatalf("the staller's Poll: %v", err)
	}
	for i := range 10 * 64 {
		if !p.TryPublish(&tick{Seq: n}) {
			t.Fatalf("message %d after the uid was let go: no room", i)
		}
		n++
	}
	if _, err := Subscribe[tick]("ticks", SubscribeOptions{Dir: sdir}); !errors.Is(err, ErrBusy) {
		t.Fatalf("a subscriber of the uid let go: %v", err)
	}
	var again *Subscriber[tick]
	if !eventually(func() bool { again, err = Subscribe[tick]("ticks", SubscribeOptions{Dir: sdir}); return err == nil }) {
		t.Fatalf("not taken again after the window: %v", err)
	}
	again.Close()
}
