package topic

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/spinwire/spinwire/internal/fdpass"
	"github.com/spinwire/spinwire/internal/msg"
	"github.com/spinwire/spinwire/internal/rundir"
	"github.com/spinwire/spinwire/link"
	"golang.org/x/sys/unix"
)

// Other uids. A topic's name is a link to its publisher's descriptor,
// which only the publisher's uid (and root) may follow, and its directory
// is that uid's. A publisher whose Options.Share lists uids or gids also
// listens on NAME.sock in SharedDir(its uid) (mode 0711: others may reach
// a name they know, not list them), as link servers do. A subscriber of
// another uid subscribes with SubscribeOptions.Dir = SharedDir(that uid):
// it connects, and the publisher checks its credentials (SO_PEERCRED,
// recorded by the kernel at the connect) against the policy, refusing by
// closing. An admitted subscriber sends a read-only descriptor of its
// subscriber segment, which the publisher maps as it maps the ones it
// finds in its directory (checked: sealed, bounded, the magic), and gets
// back a read-only descriptor of the topic: neither side can write what
// the other maps — but for the topic's bell, whose writable descriptor
// comes with the topic's (wait.go: ringing it is all it is for). The
// connection stays open: the publisher lets a
// segment go when every connection that brought it has closed — its
// subscribers closed, or their process died. Everything a peer sends is
// bounded: one message, one descriptor, 100 ms. What peers hold is
// bounded for each uid and each process as well as in all (set-ups under
// way here, segments and connections kept in share_kept.go), so that one
// process, or one uid, cannot keep the others out. A publisher that does
// not send the topic may say why, in a message of 8 bytes without a
// descriptor: shareDeny, shareBusy or shareFull.

// SharedDir is where a publisher whose Policy admits other uids listens:
// "topic" in link.SharedDir(uid).
func SharedDir(uid uint32) string { return filepath.Join(link.SharedDir(uid), "topic") }

// shareTimeout bounds each step of the exchange on the socket.
const shareTimeout = 100 * time.Millisecond

// sharer is a publisher's listener for subscribers of other uids.
type sharer struct {
	lfd    int
	rofd   int // the topic segment, opened read-only
	bellfd int // the bell (wait.go), writable: the publisher's, not closed here
	path   string
	bound  bool // path is our socket, to remove at close
	policy link.Policy
	uid    uint32
	t      *tracker
	done   chan struct{}

	mu     sync.Mutex
	setups []peer         // the set-ups under way (admit), by peer
	admits sync.WaitGroup // the admit goroutines
}

// What a publisher that does not send the topic answers (and closes).
const (
	shareDeny = "SPINDENY" // its policy refuses the subscriber's uid
	shareBusy = "SPINBUSY" // set-ups from the uid or process are under way to its limit: try again
	shareFull = "SPINFULL" // it keeps as many subscribers of the uid or process as it allows
)

// Limits on set-ups under way, counted from the peer's credentials at the
// accept, before anything it sends is read: a peer that connects and says
// nothing holds its set-up for shareTimeout. A connection beyond a limit
// is answered shareBusy and closed at once; an honest set-up takes
// microseconds, and the subscriber tries again (subscribeRemote).
const (
	maxAdmitting        = 64
	maxAdmittingPerUID  = maxAdmitting / 4
	maxAdmittingPerProc = maxAdmitting / 8
)

// peer is who connected: the credentials the kernel recorded at the
// connect (SO_PEERCRED).
type peer struct {
	uid uint32
	pid int32
}

// shareTopic starts listening for topic name, whose segment is fd and
// bell bellfd.
func shareTopic(name string, fd, bellfd int, policy link.Policy, t *tracker) (*sharer, error) {
	uid := uint32(os.Getuid())
	dir := SharedDir(uid)
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := rundir.Ensure("topic: shared directory", d, 0o711); err != nil {
			return nil, err
		}
	}
	ro, err := unix.Open("/proc/self/fd/"+strconv.Itoa(fd), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, msg.Errorf("topic: reopen %s read-only: %w", name, err)
	}
	s := &sharer{lfd: -1, rofd: ro, bellfd: bellfd, path: filepath.Join(dir, name+".sock"), policy: policy, uid: uid, t: t}
	if c, err := unix.Socket(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0); err == nil {
		live := unix.Connect(c, &unix.SockaddrUnix{Name: s.path}) == nil
		unix.Close(c)
		if live {
			s.close()
			return nil, msg.Errorf("%w: %s is shared by another publisher of this uid", ErrInUse, s.path)
		}
	}
	os.Remove(s.path) // a dead publisher's
	if s.lfd, err = fdpass.Listen(s.path); err != nil {
		s.close()
		return nil, msg.Errorf("topic: listen on %s: %w", s.path, err)
	}
	s.bound = true
	s.done = make(chan struct{})
	go s.serve()
	return s, nil
}

// serve takes connections until close shuts the listener: it refuses a
// peer the policy does not admit, or one over a limit on set-ups, at
// once, and admits each other on a goroutine of its own.
func (s *sharer) serve() {
	defer close(s.done)
	fdpass.Serve(s.lfd, func(nfd int) {
		cred, err := unix.GetsockoptUcred(nfd, unix.SOL_SOCKET, unix.SO_PEERCRED)
		why := ""
		switch {
		case err != nil:
		case !s.policy.AllowsPeer(s.uid, nfd, cred.Uid, cred.Gid):
			s.t.peerLogf("topic %s: refused a subscriber of uid %d (policy)", s.t.name, cred.Uid)
			why = shareDeny
		case !s.begin(peer{cred.Uid, cred.Pid}):
			why = shareBusy
		default:
			s.admits.Add(1)
			go func() {
				defer s.admits.Done()
				p := peer{cred.Uid, cred.Pid}
				if kept, why := s.admit(nfd, p); !kept {
					s.refuse(nfd, why)
				}
				s.end(p)
			}()
			return
		}
		s.refuse(nfd, why)
	})
}

// refuse counts conn as refused (PublisherStats.Refused), sends why
// (shareDeny, shareBusy, shareFull; "": nothing) without waiting — a
// connection that has sent nothing back has room for it — and closes it.
func (s *sharer) refuse(conn int, why string) {
	s.t.nRefused.Add(1)
	if why != "" {
		unix.Sendmsg(conn, []byte(why), nil, nil, unix.MSG_DONTWAIT)
	}
	unix.Close(conn)
}

// begin counts a set-up of p as under way, unless that would pass a limit
// (maxAdmitting…): then it reports false. Cost: a look at each set-up
// under way (at most maxAdmitting).
func (s *sharer) begin(p peer) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	uid, proc := 0, 0
	for _, q := range s.setups {
		if q.uid == p.uid {
			uid++
			if q == p {
				proc++
			}
		}
	}
	if len(s.setups) >= maxAdmitting || uid >= maxAdmittingPerUID || proc >= maxAdmittingPerProc {
		return false
	}
	s.setups = append(s.setups, p)
	return true
}

// end counts one set-up of p as done.
func (s *sharer) end(p peer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if i := slices.Index(s.setups, p); i >= 0 {
		s.setups = slices.Delete(s.setups, i, i+1)
	}
}

// admit takes conn's subscriber segment and sends the topic; it reports
// whether the tracker keeps conn, and if not what to tell the peer
// (shareFull, or "": nothing). p is conn's peer, which the policy admits.
func (s *sharer) admit(conn int, p peer) (kept bool, why string) {
	tv := unix.NsecToTimeval(int64(shareTimeout))
	unix.SetsockoptTimeval(conn, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	unix.SetsockoptTimeval(conn, unix.SOL_SOCKET, unix.SO_SNDTIMEO, &tv)
	fd, err := recvFd(conn)
	if err != nil {
		s.t.peerLogf("topic %s: subscriber pid %d: %v", s.t.name, p.pid, err)
		return false, ""
	}
	switch s.t.adopt(fd, conn, p) {
	case adoptRefused:
		return false, ""
	case adoptFull:
		return false, shareFull
	}
	// The bell rides second: a subscriber of an earlier version keeps the
	// first descriptor and closes the other (fdpass.Recv). A send that
	// fails leaves conn kept: the tracker sees it close.
	unix.SendmsgN(conn, []byte("SPINTOPC"), unix.UnixRights(s.rofd, s.bellfd), nil, 0)
	return true, ""
}

// close stops listening, removes the socket and closes the descriptor.
func (s *sharer) close() {
	if s.lfd >= 0 {
		unix.Shutdown(s.lfd, unix.SHUT_RDWR)
		if s.done != nil {
			<-s.done
			s.admits.Wait() // none adopts after the tracker's close
		}
		unix.Close(s.lfd)
		if s.bound {
			os.Remove(s.path)
		}
	}
	unix.Close(s.rofd)
}

// recvFd receives one message with one descriptor on conn.
func recvFd(conn int) (int, error) {
	var buf [16]byte
	_, fd, err := fdpass.Recv(conn, buf[:])
	if err != nil {
		return -1, msg.Errorf("topic: receive a descriptor: %w", err)
	}
	if fd < 0 {
		return -1, msg.Errorf("topic: a message without a descriptor")
	}
	return fd, nil
}

// epollAdd adds fd to the epoll set *ep (made first if *ep < 0) for
// events, and reports whether it could.
func epollAdd(ep *int, fd int, events uint32) bool {
	if *ep < 0 {
		e, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
		if err != nil {
			return false
		}
		*ep = e
	}
	ev := unix.EpollEvent{Events: events, Fd: int32(fd)}
	return unix.EpollCtl(*ep, unix.EPOLL_CTL_ADD, fd, &ev) == nil
}

// epollReady returns the events of set ep (none if ep < 0) ready now, in
// evs: one epoll_wait that does not block.
func epollReady(ep int, evs []unix.EpollEvent) []unix.EpollEvent {
	if ep < 0 {
		return nil
	}
	n, err := unix.EpollWait(ep, evs, 0)
	if err != nil || n <= 0 {
		return nil
	}
	return evs[:n]
}
