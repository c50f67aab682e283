package topic

import (
	"slices"
	"strconv"
	"strings"

	"github.com/spinwire/spinwire/layout"
	"golang.org/x/sys/unix"
)

// Subscriber segments linked by name (NAME~sPID.N, a link to
// /proc/PID/fd/N). The tracker learns that one's process has died from a
// pidfd of that process in its deaths epoll set: one epoll_wait a look
// however many there are. A segment whose process could not be given a
// pidfd (no pidfd_open, or a link that does not lead through the process
// it names to the segment mapped) is asked after by name instead, in turn
// (dropDead, gone), 64 a look. One whose name goes while its process
// lives — the process closed it with its last subscriber — is let go
// when a whole pass over the directory (scan) has not listed the name;
// one whose name stays but leads nowhere while its process lives (it
// closed its descriptor: exec) when dropDead asks after it, one every
// watchedEvery looks.

// namedSeg is a segment scan mapped by name.
type namedSeg struct {
	path  []byte // dir/key, NUL-terminated (gone)
	pidfd int    // of the process that holds it, in deaths; -1: asked after by name
	cycle uint64 // the last pass over the directory that listed the name
}

// mapNamed adds seg, mapped by scan from name n, to segs and named,
// with a pidfd of its process if it can have one.
func (t *tracker) mapNamed(n string, seg *layout.Segment) {
	path := t.dir + "/" + n
	ns := &namedSeg{path: cPath(path), pidfd: t.pidfdOf(path, seg), cycle: t.cycle}
	t.mu.Lock() // only scan adds names to segs, one scan at a time
	defer t.mu.Unlock()
	t.segs[n], t.named[n] = seg, ns
	if ns.pidfd >= 0 && !t.watchPid(ns.pidfd, n) {
		unix.Close(ns.pidfd)
		ns.pidfd = -1
	}
	if ns.pidfd < 0 {
		t.asked = append(t.asked, n)
	} else {
		t.watched = append(t.watched, n)
	}
}

// pidfdOf returns a pidfd of the process whose descriptor the link at
// path leads through, if the link then still leads to seg (so the pidfd
// is of a process that holds it, not of one that took a dead one's pid),
// or -1. Cost: a readlink, a pidfd_open, a stat and an fstat, when a
// segment is mapped.
func (t *tracker) pidfdOf(path string, seg *layout.Segment) int {
	if t.noPidfd {
		return -1
	}
	var buf [64]byte
	k, err := unix.Readlink(path, buf[:])
	if err != nil || k == len(buf) {
		return -1
	}
	pid := linkPid(string(buf[:k]))
	if pid <= 0 {
		return -1
	}
	pfd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return -1
	}
	var at, want unix.Stat_t
	if unix.Stat(path, &at) != nil || unix.Fstat(seg.Fd(), &want) != nil || at.Dev != want.Dev || at.Ino != want.Ino {
		unix.Close(pfd)
		return -1
	}
	return pfd
}

// linkPid returns the PID of a link target /proc/PID/fd/N, or -1.
func linkPid(target string) int {
	rest, ok := strings.CutPrefix(target, "/proc/")
	pid, _, ok2 := strings.Cut(rest, "/fd/")
	n, err := strconv.Atoi(pid)
	if !ok || !ok2 || err != nil || n <= 0 {
		return -1
	}
	return n
}

// watchPid adds pidfd, of the process that holds segment n, to deaths: it
// becomes readable when that process exits. Under t.mu.
func (t *tracker) watchPid(pidfd int, n string) bool {
	if !epollAdd(&t.deaths, pidfd, unix.EPOLLIN) {
		return false
	}
	t.pidKey[pidfd] = n
	return true
}

// exited returns the pidfds in deaths (t.deaths, read under t.mu) whose
// process has exited, at most len(t.pidEvs) at a time (the rest at the
// next look): one epoll_wait that does not block. A look's.
func (t *tracker) exited(deaths int) []unix.EpollEvent { return epollReady(deaths, t.pidEvs[:]) }

// dropNamed unmaps named segment n, closes its pidfd (which leaves
// deaths with it) and removes its name if that leads nowhere. Under t.mu.
func (t *tracker) dropNamed(n string) {
	ns := t.named[n]
	if ns == nil {
		return // dropped already
	}
	is := func(x string) bool { return x == n }
	if ns.pidfd >= 0 {
		delete(t.pidKey, ns.pidfd)
		unix.Close(ns.pidfd)
		t.watched = slices.DeleteFunc(t.watched, is)
	} else {
		t.asked = slices.DeleteFunc(t.asked, is)
	}
	delete(t.named, n)
	if seg := t.segs[n]; seg != nil {
		seg.Close()
		delete(t.segs, n)
	}
	unlinkDangling(t.dir + "/" + n)
}

// dropUnlisted lets go of the named segments whose name the pass over the
// directory that ends now did not list. Scan's, at the end of a pass.
func (t *tracker) dropUnlisted() {
	var unlisted []string
	t.mu.RLock()
	for n, ns := range t.named {
		if ns.cycle != t.cycle {
			unlisted = append(unlisted, n)
		}
	}
	t.mu.RUnlock()
	if len(unlisted) == 0 {
		return
	}
	t.mu.Lock()
	for _, n := range unlisted {
		t.dropNamed(n)
	}
	t.full = false
	t.mu.Unlock()
}
