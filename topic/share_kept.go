package topic

import (
	"slices"
	"strconv"
	"time"

	"github.com/spinwire/spinwire/layout"
	"golang.org/x/sys/unix"
)

// What a publisher keeps for subscribers of other uids (share.go): the
// subscriber segments their sockets brought, mapped, and the connections,
// open, while they follow it. Each is bounded in all, for each uid and
// for each process, counted by the credentials of the connection that
// brought it, so that no process, nor uid, can keep the others out:
//
//	                  in all              one uid             one process
//	connections       maxShareConns 4096  1024                (64 a segment)
//	segments          maxSubSegs 1024     256                 16
//
// An honest process brings one segment for each 64 of its subscribers,
// each subscriber over a connection of its own: a process may have 1024
// subscribers of one shared topic, and so may a uid in all (its
// connections), in up to 256 processes. The segments the publisher maps
// by name (its own uid's, scan.go) count towards the 1024 in all, and
// towards no uid's.

const (
	// maxShareConns bounds the connections kept in all: each is a
	// descriptor of the publisher's.
	maxShareConns       = 4096
	maxShareConnsPerUID = maxShareConns / 4
	maxShareSegsPerUID  = maxSubSegs / 4
	maxShareSegsPerProc = 16
)

// keptConn is a kept connection's segment (its key in segs) and peer.
type keptConn struct {
	key string
	by  peer
}

// shareUse is what one uid's processes have brought that is kept.
type shareUse struct{ conns, segs int }

// adoptResult is what adopt did with a segment and its connection.
type adoptResult int

const (
	adoptKept    adoptResult = iota // mapped, or mapped already; the connection kept
	adoptRefused                    // not a subscriber segment, or a peer no honest subscriber is
	adoptFull                       // a limit above: the peer's uid or process, or all, hold their share; or its uid stalled the topic (share_stall.go)
)

// adopt maps the subscriber segment fd that came on conn from p (taking
// fd either way) and says whether the tracker keeps conn: the segment
// stays mapped while one of the connections that brought it is open. A
// segment already adopted (another subscriber of the same process) only
// adds conn.
func (t *tracker) adopt(fd, conn int, p peer) adoptResult {
	var st unix.Stat_t
	if unix.Fstat(fd, &st) != nil {
		unix.Close(fd)
		return adoptRefused
	}
	key := "fd:" + strconv.FormatUint(st.Dev, 10) + "." + strconv.FormatUint(st.Ino, 10)
	t.mu.Lock()
	defer t.mu.Unlock()
	if until, ok := t.refusedUntil(p.uid, time.Now()); ok {
		unix.Close(fd)
		t.peerLogf("topic %s: refused a subscriber of uid %d until %s: its subscribers stalled the topic", t.name, p.uid, until.Format(time.TimeOnly))
		return adoptFull
	}
	u := t.use[p.uid]
	if u == nil {
		u = &shareUse{}
	}
	if t.nconns >= maxShareConns || u.conns >= maxShareConnsPerUID {
		unix.Close(fd)
		t.peerLogf("topic %s: %d subscriber connections open, %d of uid %d; refusing more", t.name, t.nconns, u.conns, p.uid)
		return adoptFull
	}
	if _, ok := t.segs[key]; ok {
		unix.Close(fd)
		if len(t.conns[key]) >= subCells { // one per cell is all an honest process needs
			return adoptRefused
		}
		return t.watch(conn, key, p, u)
	}
	if len(t.segs) >= maxSubSegs || u.segs >= maxShareSegsPerUID || t.procSegs[p] >= maxShareSegsPerProc {
		unix.Close(fd)
		t.peerLogf("topic %s: %d subscriber segments mapped, %d of uid %d, %d of pid %d; refusing more",
			t.name, len(t.segs), u.segs, p.uid, t.procSegs[p], p.pid)
		return adoptFull
	}
	seg, err := layout.OpenFd(fd, layout.Options{ReadOnly: true, Fingerprint: subFPrint, MaxLength: 1 << 16, ReadyWait: -1})
	if err != nil {
		unix.Close(fd)
		t.peerLogf("topic %s: refused a subscriber segment: %v", t.name, err)
		return adoptRefused
	}
	if b := seg.Body(); len(b) < subLength || load(b, 0) != subMagic {
		seg.Close() // and fd with it
		t.peerLogf("topic %s: refused a subscriber segment: not one", t.name)
		return adoptRefused
	}
	if t.watch(conn, key, p, u) != adoptKept {
		seg.Close()
		return adoptRefused
	}
	t.segs[key] = seg
	t.segBy[key] = p
	u.segs++
	t.procSegs[p]++
	return adoptKept
}

// watch keeps conn, which brought the segment of key from p (whose uid's
// use is u), and adds it to the epoll set in which dropClosed looks for
// closed connections. Under t.mu.
func (t *tracker) watch(conn int, key string, p peer, u *shareUse) adoptResult {
	// Hang-ups only: whatever a peer sends on conn wakes nothing.
	if !epollAdd(&t.ep, conn, unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) {
		return adoptRefused
	}
	t.kept[conn] = keptConn{key, p}
	t.conns[key] = append(t.conns[key], conn)
	t.nconns++
	u.conns++
	t.use[p.uid] = u
	return adoptKept
}

// dropClosed closes the connections in hung (hungUp's) and lets go of
// the adopted segments whose connections have all closed
// (Subscriber.Close, or their process died). Under t.mu.
func (t *tracker) dropClosed(hung []unix.EpollEvent) {
	for _, ev := range hung {
		c := int(ev.Fd)
		k, ok := t.kept[c]
		if !ok {
			continue
		}
		t.forget(c, k)
		conns := slices.DeleteFunc(t.conns[k.key], func(x int) bool { return x == c })
		if len(conns) > 0 {
			t.conns[k.key] = conns
			continue
		}
		delete(t.conns, k.key)
		t.dropSeg(k.key)
	}
}

// forget closes kept connection c (k its entry in kept), taking it off
// the counts; the caller takes it out of conns. Under t.mu.
func (t *tracker) forget(c int, k keptConn) {
	delete(t.kept, c)
	unix.Close(c) // out of the epoll set with it
	t.nconns--
	t.release(k.by.uid, 1, 0)
}

// dropSeg unmaps the segment of key, which a socket brought, and takes it
// off its bringer's counts. Under t.mu.
func (t *tracker) dropSeg(key string) {
	seg := t.segs[key]
	if seg == nil {
		return
	}
	seg.Close()
	delete(t.segs, key)
	by := t.segBy[key]
	delete(t.segBy, key)
	t.release(by.uid, 0, 1)
	if t.procSegs[by]--; t.procSegs[by] <= 0 {
		delete(t.procSegs, by)
	}
}

// release takes conns and segs off uid's use, forgetting a uid that has
// nothing kept. Under t.mu.
func (t *tracker) release(uid uint32, conns, segs int) {
	u := t.use[uid]
	if u == nil {
		return
	}
	u.conns -= conns
	u.segs -= segs
	if u.conns <= 0 && u.segs <= 0 {
		delete(t.use, uid)
	}
}

// hungUp returns the kept connections that have hung up since the last
// look (at most len(t.evs) at a time; the rest at the next): one
// epoll_wait that does not block, whatever the number of connections.
// ep is t.ep, read under t.mu. A look's.
func (t *tracker) hungUp(ep int) []unix.EpollEvent { return epollReady(ep, t.evs[:]) }
