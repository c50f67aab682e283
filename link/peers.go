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
// close. The server maps each client process's page once, read-only, and
// poller 0 looks at the pages every peerCheckEvery sweeps (one load per
// client process); a marked page wakes the epoll goroutine through an
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
// liveness page, shared by that process's connections.
type peerPage struct {
	key  inodeKey
	mem  []byte
	refs int         // epoll goroutine only
	dead atomic.Bool // poller 0 saw the owner die
}

func (p *peerPage) died() bool {
	return atomic.LoadUint32((*uint32)(unsafe.Pointer(&p.mem[0])))&futexOwnerDie != 0
}

// mapPeer takes a client's page fd (closing it) and returns the server's
// mapping of that page, shared by the process's connections. Epoll
// goroutine only.
func (s *Server[Req, Resp]) mapPeer(fd int) (*peerPage, error) {
	defer unix.Close(fd)
	key, err := checkPage(fd)
	if err != nil {
		return nil, err
	}
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
	s.publishPeers()
	return p, nil
}

// unrefPeer drops a connection's reference; the last one retires the page
// from the pollers' list (it is unmapped after the next grace period).
func (s *Server[Req, Resp]) unrefPeer(p *peerPage) {
	if p.refs--; p.refs > 0 {
		return
	}
	delete(s.peers, p.key)
	s.publishPeers()
	s.retired = append(s.retired, p)
}

// publishPeers gives the pollers a fresh copy of the page list.
func (s *Server[Req, Resp]) publishPeers() {
	l := make([]*peerPage, 0, len(s.peers))
	for _, p := range s.peers {
		l = append(l, p)
	}
	// SYNC: release of the list; poller 0 loads it in checkPeers.
	s.peerList.Store(&l)
}

// unmapRetired unmaps the retired pages; call it only after a grace period
// (waitPollers) that began after they were retired.
func (s *Server[Req, Resp]) unmapRetired(retired []*peerPage) {
	for _, p := range retired {
		unix.Munmap(p.mem)
	}
}

// checkPeers is poller 0's look at the client pages, every peerCheckEvery
// sweeps: one atomic load per client process, and an eventfd write (a
// syscall) only when one has died.
func (s *Server[Req, Resp]) checkPeers() {
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
func (s *Server[Req, Resp]) reapPeers(dead []*sconn) []*sconn {
	var b [8]byte
	unix.Read(s.wakeFd, b[:])
	for _, c := range s.byFd {
		if c != nil && !c.queued && c.peer != nil && c.peer.dead.Load() {
			c.queued = true
			dead = append(dead, c)
		}
	}
	return dead
}
