package link

import (
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Client deaths, sooner. Every client process sends its own liveness page
// (liveness.go) with each hello: its death watch's thread owns it, so the
// kernel marks it FUTEX_OWNER_DIED when that thread exits — early in the
// process's teardown, long before the last thread is gone and the sockets
// close. The server maps one page per client process, read-only, once the
// process's first hello has passed every check (the first page that
// process sends; the pages its later hellos carry are closed unmapped),
// and poller 0 looks at the pages every peerCheckEvery sweeps (one load
// per client process); a marked page wakes the epoll goroutine through an
// eventfd, and it frees every connection of that process as if their
// sockets had closed. The sockets stay the authority: a server whose
// pollers sleep, or a client without a page, is still seen through them.
//
// A client can only mark its own page, so the worst a lying client can do
// is have its own connections freed.

// peerCheckEvery is how many sweeps of poller 0 pass between two looks at
// the client pages: a sweep loads one doorbell word per 64 connections, a
// look one word per client process, so the looks stay a small part of an
// idle poller's work.
const peerCheckEvery = 64

// peerPage is the server's read-only mapping of one client process's
// liveness page, shared by the domains that sent it (one, for a correct
// client).
type peerPage struct {
	key    inodeKey
	mem    []byte
	refs   int         // domains holding it; epoll goroutine only
	owner  *domain     // the first of them, while it lives (domainFor); epoll goroutine only
	listed bool        // in poller 0's list (epoll goroutine)
	dead   atomic.Bool // poller 0 saw the owner die
}

func (p *peerPage) died() bool {
	return atomic.LoadUint32((*uint32)(unsafe.Pointer(&p.mem[0])))&futexOwnerDie != 0
}

// mapPeer returns the server's mapping of a client's page fd (checked by
// checkPage, its inode key), shared with any domain that maps the same
// page. The caller keeps fd. Epoll goroutine only.
func (s *server) mapPeer(fd int, key inodeKey) (*peerPage, error) {
	if p := s.peers[key]; p != nil {
		p.refs++
		return p, nil
	}
	mem, err := unix.Mmap(fd, 0, livePage, unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		return nil, err
	}
	p := &peerPage{key: key, mem: mem, refs: 1}
	s.peers[key] = p
	return p, nil
}

// dropPeer drops a domain's reference to p. When it was the last, p leaves
// the server: unmapped now if poller 0 never saw it, or taken out of
// poller 0's list, and then dropPeer reports true: the caller unmaps it
// after a grace period.
func (s *server) dropPeer(p *peerPage) bool {
	if p.refs--; p.refs > 0 {
		return false
	}
	delete(s.peers, p.key)
	if !p.listed {
		unix.Munmap(p.mem)
		return false
	}
	p.listed = false
	s.publishPeers()
	return true
}

// publishPeers gives poller 0 a fresh copy of the list of pages it may
// read: those of domains in the pollers' list.
func (s *server) publishPeers() {
	l := make([]*peerPage, 0, len(s.peers))
	for _, p := range s.peers {
		if p.listed {
			l = append(l, p)
		}
	}
	// SYNC: release of the list; poller 0 loads it in checkPeers.
	s.peerList.Store(&l)
}

// checkPeers is poller 0's look at the client pages, every peerCheckEvery
// sweeps: one atomic load per client process, and an eventfd write (a
// syscall) only when one has died.
func (s *server) checkPeers() {
	if s.peerTick++; s.peerTick%peerCheckEvery != 0 {
		return
	}
	l := s.peerList.Load()
	if l == nil {
		return
	}
	for _, p := range *l {
		if p.died() && p.dead.CompareAndSwap(false, true) {
			one := uint64(1)
			unix.Write(s.wakeFd, (*[8]byte)(unsafe.Pointer(&one))[:])
		}
	}
}

// reapPeers appends to dead the active connections of client processes
// whose pages poller 0 found marked. Epoll goroutine only.
func (s *server) reapPeers(dead []*sconn) []*sconn {
	var b [8]byte
	unix.Read(s.wakeFd, b[:])
	for _, c := range s.byFd {
		if c != nil && !c.queued && c.d != nil && c.d.peer != nil && c.d.peer.dead.Load() {
			c.queued = true
			dead = append(dead, c)
		}
	}
	return dead
}
