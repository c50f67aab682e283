package link

import (
	"os"
	"runtime"
	"time"

	"golang.org/x/sys/unix"
)

// unbind undoes Listen's resources (not the connections).
func (s *server) unbind() {
	if s.lfd >= 0 {
		unix.Close(s.lfd)
		os.Remove(s.sockPath)
	}
	if s.wakeFd >= 0 {
		unix.Close(s.wakeFd)
		s.wakeFd = -1
	}
	if s.lockFd >= 0 {
		os.Remove(s.lockPath)
		unix.Close(s.lockFd)
		s.lockFd = -1
	}
}

// free frees the slots of cs once no poller can be touching them, and
// closes their sockets: the clients see their ends close. One grace period
// covers the whole batch. A client process whose last connection this is
// leaves with it: its arena and its liveness page are released after the
// same grace period.
func (s *server) free(cs ...*sconn) {
	if len(cs) == 0 {
		return
	}
	var gone lateRelease
	for _, c := range cs {
		if c.d == nil {
			continue
		}
		if c.state.Swap(connClosing) == connActive {
			s.stats.closed.Add(1)
		} else if x := c.ext.Load(); x != nil && x.why.Load() != nil {
			if n, ok := s.peerLog.Take(); ok {
				s.logf(n, "link: %s: dropped connection %d (pid %d, uid %d): %s", s.name, c.index, c.pid, c.uid, *x.why.Load())
			}
		}
		if c.d.n--; c.d.n == 0 {
			s.unlist(c.d, &gone) // out of the pollers' lists before the grace period
		}
	}
	safe := s.waitPollers()
	for _, c := range cs {
		c.awaitReplies() // closing: no Reply starts writing now (defer.go)
		s.stats.pushes.Add(c.pushDone())
	}
	// Every slot first, the sockets' system calls after: a dead process's
	// slots are all free within microseconds of each other.
	for _, c := range cs {
		if c.d == nil {
			continue
		}
		s.nconns--
		s.uconns.add(c.uid, -1)
		c.d.chunks[c.index/64].conns.Load()[c.index%64].Store(nil)
		if !safe {
			s.opts.Logf("link: %s: slot %d leaked: a poller did not finish its sweep", s.name, c.index)
			continue
		}
		// The ring is reset when the slot is next taken (reset), where
		// it has pages: an idle connection's has none. A departed
		// process's arena goes as a whole.
		if c.d.listed {
			c.clearBell()
			c.d.release(int(c.index))
		}
		if s.opts.OnDisconnect != nil {
			s.opts.OnDisconnect(c.info())
		}
	}
	if safe {
		gone.release()
	} else {
		s.late.add(&gone, s.pollersNow()) // the loop releases them once the pollers move on
	}
	for _, c := range cs {
		s.forget(c)
	}
}

// waitPollers waits until every running poller has begun a new sweep since
// the call, so none still holds a connection marked closing. Pollers sweep
// in microseconds: it spins (yielding its P) before it sleeps. It reports
// false after 5 s (a poller descheduled that long on an overloaded host;
// the slot is then leaked, not reused, and logged).
func (s *server) waitPollers() bool {
	ps := s.pollersNow()
	start := time.Now()
	for _, p := range ps {
		snap := p.sweeps.Load()
		for i := 0; p.running.Load() && p.sweeps.Load() < snap+2; i++ {
			switch {
			case i < 1000:
				runtime.Gosched()
			case time.Since(start) > 5*time.Second:
				return false
			default:
				time.Sleep(10 * time.Microsecond)
			}
		}
	}
	return true
}

// pollersNow returns the pollers' states (none before Serve).
func (s *server) pollersNow() []*pollerState {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pollers
}

// Close stops the pollers, closes every connection (clients see
// ErrPeerGone; a Reply or Push on another goroutine, during Close or
// after, returns ErrPeerGone), removes the socket and lock files, and
// returns when all of that is done; Serve then returns. A second Close
// waits for the first to finish and returns ErrClosed. Close must not be
// called from the handler or from OnConnect or OnDisconnect: it waits for
// the goroutines that run them.
func (s *server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		<-s.closeDone
		return ErrClosed
	}
	s.closed = true
	s.mu.Unlock()
	s.cancel()
	<-s.loopDone
	s.closeConns()
	for _, c := range s.byFd {
		if c != nil {
			unix.Close(c.fd)
		}
	}
	s.byFd = nil
	for _, p := range s.pollers {
		for p.running.Load() {
			time.Sleep(10 * time.Microsecond)
		}
	}
	for _, d := range s.domains {
		d.a.close()
	}
	if s.spare != nil {
		s.spare.a.close()
	}
	s.ep.close()
	s.unbind()
	s.live.close()
	for _, p := range s.peers {
		unix.Munmap(p.mem)
	}
	s.late.release() // the pollers have stopped
	s.domains, s.spare, s.peers = nil, nil, nil
	close(s.closeDone)
	return nil
}

// closeConns marks every attached connection closing and waits for the
// Reply and Push calls under way on other goroutines, as free does: from
// here on they return ErrPeerGone and write nothing into the arenas Close
// is about to unmap. The epoll goroutine has stopped.
func (s *server) closeConns() {
	for _, c := range s.byFd {
		if c != nil && c.d != nil {
			// SYNC: a sequentially consistent store, then awaitReplies'
			// load of Reply's counter; Reply adds to the counter, then
			// loads the state: one of the two sees the other's (defer.go).
			// A Push checks the state under the mutex pushDone takes.
			c.state.Store(connClosing)
		}
	}
	for _, c := range s.byFd {
		if c != nil && c.d != nil {
			c.awaitReplies() // closing: no Reply starts writing now (defer.go)
			s.stats.pushes.Add(c.pushDone())
		}
	}
}
