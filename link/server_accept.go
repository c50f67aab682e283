package link

import (
	"slices"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/spinwire/spinwire/internal/msg"
)

// Limits on set-ups in progress, counted from the credentials the kernel
// gives at the accept (SO_PEERCRED), before anything a client sends is
// read. A connection over a limit is refused and closed at once, so a
// flood of silent connections from one uid, or one process, cannot keep
// other clients out. A connection whose hello is already there when it is
// accepted — a correct client sends it as soon as its connect returns —
// is set up at once (admit) and never counts as pending, so a process
// that dials many connections at once (its Conns redialling a restarted
// server) does not run into its limit.
const (
	maxPending        = 1024           // set-ups pending in all
	maxPendingPerUID  = maxPending / 4 // … for one uid
	maxPendingPerProc = maxPending / 8 // … for one process
	// maxProcsPerUID bounds the client processes of one uid with
	// connections attached: each has an arena (a memfd, its header page)
	// and its liveness page mapped.
	maxProcsPerUID = 1024
)

// acceptBatch bounds the connections accept takes per wake-up, so that a
// flood of connections cannot keep the loop from the set-ups and deaths of
// the others: the listener is level-triggered, and the next epoll_wait
// returns it again, with whatever else is ready.
const acceptBatch = 256

// accept takes the connections waiting on the listener (acceptBatch at
// most) and admits or refuses each. An error other than "nothing waiting"
// pauses the listener (acceptPause): a full fd table with connections
// waiting would otherwise wake the loop again at once, for ever.
func (s *server) accept() {
	for range acceptBatch {
		s.stats.acceptCalls.Add(1)
		fd, err := accept4(s.lfd)
		switch err {
		case nil:
			s.acc.backoff = 0
			s.admit(fd)
			continue
		case unix.EAGAIN, unix.EINTR:
			return
		case unix.ECONNABORTED, unix.EPROTO:
			continue // that one left before we took it
		}
		s.stats.acceptErrors.Add(1)
		s.pauseAccept(err)
		return
	}
}

// admit checks a new connection's credentials against the policy and the
// pending limits, and sets it up if its hello has come, else watches it
// for its hello; or refuses it at once.
func (s *server) admit(fd int) {
	cred, err := peerCred(fd)
	if err != nil {
		s.stats.refused[reasonMalformed].Add(1)
		unix.Close(fd)
		return
	}
	if !s.opts.Policy.AllowsPeer(s.uid, fd, cred.Uid, cred.Gid) {
		m := append(s.mbuf[:0], "uid "...)
		m = strconv.AppendUint(m, uint64(cred.Uid), 10)
		m = append(m, " gid "...)
		m = strconv.AppendUint(m, uint64(cred.Gid), 10)
		s.mbuf = append(m, " not allowed"...)
		s.refuseFd(fd, cred, statusDenied, reasonPolicy, unsafe.String(unsafe.SliceData(s.mbuf), len(s.mbuf)))
		return
	}
	if why := s.busy(cred); why != "" {
		s.refuseFd(fd, cred, statusBusy, reasonBusy, why)
		return
	}
	c := &sconn{fd: fd, pid: cred.Pid, uid: cred.Uid, gid: cred.Gid, started: time.Now().UnixNano()}
	if err := s.ep.add(fd, uint64(fd)); err != nil {
		unix.Close(fd)
		return
	}
	if fd >= len(s.byFd) {
		// Grow by doubling, in one step: no chain of dead arrays in
		// every size class (the GC may be off).
		s.byFd = slices.Grow(s.byFd, max(fd+1, 2*len(s.byFd))-len(s.byFd))
		s.byFd = s.byFd[:cap(s.byFd)]
	}
	s.byFd[fd] = c
	s.pending = append(s.pending, c)
	s.handshake(c) // its hello is likely there: no epoll round for it
}

// busy says which pending limit a new connection with cred would pass, or
// "". Cost: a look at each pending set-up (at most maxPending).
func (s *server) busy(cred unix.Ucred) string {
	s.prunePending()
	if len(s.pending) >= maxPending {
		return "too many set-ups pending"
	}
	uid, proc := 0, 0
	for _, c := range s.pending {
		if c.uid == cred.Uid {
			uid++
			if c.pid == cred.Pid {
				proc++
			}
		}
	}
	switch {
	case uid >= maxPendingPerUID:
		return "too many set-ups pending for this uid"
	case proc >= maxPendingPerProc:
		return "too many set-ups pending for this process"
	}
	return ""
}

// prunePending drops from the pending list the connections that are set up
// or gone.
func (s *server) prunePending() {
	kept := s.pending[:0]
	for _, c := range s.pending {
		if c.state.Load() == connHandshake && s.byFd[c.fd] == c {
			kept = append(kept, c)
		}
	}
	clear(s.pending[len(kept):])
	s.pending = kept
}

// refuseFd refuses a connection that has sent nothing yet: a welcome that
// says why, then close. The message may alias s.mbuf.
func (s *server) refuseFd(fd int, cred unix.Ucred, status uint32, reason int, why string) {
	s.stats.refused[reason].Add(1)
	w := welcome{status: status, message: why}
	s.wbuf = w.appendTo(s.wbuf)
	sendMsg(fd, s.wbuf)
	unix.Close(fd)
	s.logRefused(cred.Pid, cred.Uid, strings.Clone(why))
}

// logRefused logs, within peerLog's budget, that a client was refused and
// why.
func (s *server) logRefused(pid int32, uid uint32, why string) {
	if n, ok := s.peerLog.Take(); ok {
		s.logf(n, "link: %s: refused a client (pid %d, uid %d): %s", s.name, pid, uid, why)
	}
}

// acceptPause takes the listener out of the epoll set after an accept
// error — at the fd limit (EMFILE, ENFILE) the connections stay in the
// backlog and the level-triggered socket would wake the loop at once, for
// ever — and puts it back after a backoff: 10 ms, doubling to 1 s, reset
// by the next accept that succeeds. Attached connections are served
// meanwhile; clients waiting in the backlog wait, up to their set-up
// timeout.
type acceptPause struct {
	paused  bool
	until   int64 // unix ns
	backoff time.Duration
}

// pauseAccept pauses the listener after the accept error err.
func (s *server) pauseAccept(err error) {
	p := &s.acc
	p.backoff = min(max(2*p.backoff, 10*time.Millisecond), time.Second)
	p.paused, p.until = true, time.Now().Add(p.backoff).UnixNano()
	s.ep.del(s.lfd)
	if n, ok := s.errLog.Take(); ok {
		s.logf(n, "link: %s: accept: %v; not accepting for %v", s.name, err, p.backoff)
	}
}

// resumeAccept puts the listener back once its pause is over.
func (s *server) resumeAccept() {
	if !s.acc.paused || time.Now().UnixNano() < s.acc.until {
		return
	}
	s.acc.paused = false
	if err := s.ep.add(s.lfd, listenToken); err != nil {
		s.pauseAccept(err)
	}
}

// logf logs a line; when held lines were held back before it, it says how
// many. Not inlined: its copies at each call site, all of them off the hot
// paths, were 700 bytes of a server's code (every page of which is
// resident, see cmd/internal/echo).
//
//go:noinline
func (s *server) logf(held int, format string, args ...any) {
	if held > 0 {
		format += msg.HeldNote
		args = append(args, held)
	}
	s.opts.Logf(format, args...)
}
