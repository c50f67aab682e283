package topic

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/spinwire/spinwire/internal/fdpass"
	"github.com/spinwire/spinwire/internal/msg"
	"github.com/spinwire/spinwire/internal/rundir"
	"github.com/spinwire/spinwire/layout"
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
// bounded: one message, one descriptor, 100 ms; at most maxAdmitting
// set-ups run at once, each on a goroutine of its own, and a connection
// beyond them is closed at once.

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
	slots  chan struct{} // the set-ups under way (admit)
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
	s := &sharer{lfd: -1, rofd: ro, bellfd: bellfd, path: filepath.Join(dir, name+".sock"), policy: policy, uid: uid, t: t,
		slots: make(chan struct{}, maxAdmitting)}
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

// serve takes connections until close shuts the listener.
func (s *sharer) serve() {
	defer close(s.done)
	fdpass.Serve(s.lfd, func(nfd int) {
		select {
		case s.slots <- struct{}{}: // a peer that says nothing holds a slot for 100 ms, not the listener
			go func() {
				if !s.admit(nfd) {
					unix.Close(nfd)
				}
				<-s.slots
			}()
		default:
			unix.Close(nfd) // maxAdmitting set-ups under way: try again
		}
	})
}

// maxAdmitting bounds the set-ups a publisher runs at once.
const maxAdmitting = 16

// admit checks conn's credentials, takes its subscriber segment and sends
// the topic; it reports whether the tracker keeps conn.
func (s *sharer) admit(conn int) bool {
	cred, err := unix.GetsockoptUcred(conn, unix.SOL_SOCKET, unix.SO_PEERCRED)
	if err != nil || !s.policy.Allows(s.uid, cred.Uid, cred.Gid) {
		s.t.peerLogf("topic %s: refused a subscriber of uid %d (policy)", s.t.name, credUID(cred))
		return false
	}
	tv := unix.NsecToTimeval(int64(shareTimeout))
	unix.SetsockoptTimeval(conn, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	unix.SetsockoptTimeval(conn, unix.SOL_SOCKET, unix.SO_SNDTIMEO, &tv)
	fd, err := recvFd(conn)
	if err != nil {
		s.t.peerLogf("topic %s: subscriber pid %d: %v", s.t.name, cred.Pid, err)
		return false
	}
	if !s.t.adopt(fd, conn) {
		return false
	}
	// The bell rides second: a subscriber of an earlier version keeps the
	// first descriptor and closes the other (fdpass.Recv).
	if _, err := unix.SendmsgN(conn, []byte("SPINTOPC"), unix.UnixRights(s.rofd, s.bellfd), nil, 0); err != nil {
		return true // the tracker sees the connection close
	}
	return true
}

func credUID(c *unix.Ucred) int64 {
	if c == nil {
		return -1
	}
	return int64(c.Uid)
}

// close stops listening, removes the socket and closes the descriptor.
func (s *sharer) close() {
	if s.lfd >= 0 {
		unix.Shutdown(s.lfd, unix.SHUT_RDWR)
		if s.done != nil {
			<-s.done
			for range maxAdmitting { // every admit has finished: none adopts after the tracker's close
				s.slots <- struct{}{}
			}
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

// adopt maps the subscriber segment fd that came on conn (taking fd
// either way) and reports whether the tracker keeps conn: the segment
// stays mapped while one of the connections that brought it is open. A
// segment already adopted (another subscriber of the same process) only
// adds conn.
func (t *tracker) adopt(fd, conn int) bool {
	var st unix.Stat_t
	if unix.Fstat(fd, &st) != nil {
		unix.Close(fd)
		return false
	}
	key := "fd:" + strconv.FormatUint(st.Dev, 10) + "." + strconv.FormatUint(st.Ino, 10)
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.nconns >= maxShareConns {
		unix.Close(fd)
		t.peerLogf("topic %s: %d subscriber connections open; refusing more", t.name, t.nconns)
		return false
	}
	if _, ok := t.segs[key]; ok {
		unix.Close(fd)
		if len(t.conns[key]) >= subCells { // one per cell is all an honest process needs
			return false
		}
		return t.watch(conn, key)
	}
	if len(t.segs) >= maxSubSegs {
		unix.Close(fd)
		return false
	}
	seg, err := layout.OpenFd(fd, layout.Options{ReadOnly: true, Fingerprint: subFPrint, MaxLength: 1 << 16, ReadyWait: -1})
	if err != nil {
		unix.Close(fd)
		t.peerLogf("topic %s: refused a subscriber segment: %v", t.name, err)
		return false
	}
	if b := seg.Body(); len(b) < subLength || load(b, 0) != subMagic {
		seg.Close() // and fd with it
		t.peerLogf("topic %s: refused a subscriber segment: not one", t.name)
		return false
	}
	if !t.watch(conn, key) {
		seg.Close()
		return false
	}
	t.segs[key] = seg
	return true
}

// watch keeps conn, which brought the segment of key, and adds it to the
// epoll set in which dropDead looks for closed connections. Under t.mu.
func (t *tracker) watch(conn int, key string) bool {
	// Hang-ups only: whatever a peer sends on conn wakes nothing.
	if !epollAdd(&t.ep, conn, unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) {
		return false
	}
	t.connKey[conn] = key
	t.conns[key] = append(t.conns[key], conn)
	t.nconns++
	return true
}

// maxShareConns bounds the connections of subscribers of other uids a
// publisher keeps open: each is a descriptor of its own.
const maxShareConns = 4096

// hungUp returns the kept connections that have hung up since the last
// look (at most len(t.evs) at a time; the rest at the next): one
// epoll_wait that does not block, whatever the number of connections.
// ep is t.ep, read under t.mu. A look's.
func (t *tracker) hungUp(ep int) []unix.EpollEvent { return epollReady(ep, t.evs[:]) }

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

// dropClosed closes the connections in hung (hungUp's) and lets go of
// the adopted segments whose connections have all closed
// (Subscriber.Close, or their process died). Under t.mu.
func (t *tracker) dropClosed(hung []unix.EpollEvent) {
	for _, ev := range hung {
		c := int(ev.Fd)
		key, ok := t.connKey[c]
		if !ok {
			continue
		}
		delete(t.connKey, c)
		unix.Close(c) // out of the epoll set with it
		t.nconns--
		conns := slices.DeleteFunc(t.conns[key], func(x int) bool { return x == c })
		if len(conns) > 0 {
			t.conns[key] = conns
			continue
		}
		delete(t.conns, key)
		if seg := t.segs[key]; seg != nil {
			seg.Close()
			delete(t.segs, key)
		}
	}
}
