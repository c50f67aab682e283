package stat

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/spinwire/spinwire/internal/fdpass"
	"github.com/spinwire/spinwire/internal/msg"
	"github.com/spinwire/spinwire/link"
	"golang.org/x/sys/unix"
)

// Sharing with other uids. A registry's segment is reachable by name only
// from its own uid: its name is a link to the creator's descriptor under
// /proc, which the kernel lets only the same uid (or root) follow. A
// registry whose Options.Share lists uids or gids also listens on a Unix
// socket in the share directory (DefaultShareDir: a directory that every
// uid may list and add to, sticky like /tmp), named UID.PID.N.sock. A
// reader that connects gets, if its credentials (SO_PEERCRED, recorded by
// the kernel at its connect) pass the policy, a read-only descriptor of
// the segment in SCM_RIGHTS — sealed, so it cannot write it even
// reopened read-write — and otherwise the connection closed without one.
// The registry reads nothing from its peers, so a peer can only take the
// few microseconds of an accept. ScanShared is the reader's side: it
// treats the socket's answer as it treats any segment, as hostile, and
// checks that the uid its name claims serves it. The uid that made the
// directory owns it and may remove the others' sockets: where that
// matters, make it as root at boot (mode 01777).

// DefaultShareDir is where registries that share with other uids put
// their sockets.
const DefaultShareDir = "/dev/shm/spinwire-stat"

// shareTimeout bounds each send and receive of the exchange.
const shareTimeout = 100 * time.Millisecond

// shareDir makes dir (mode 01777: anyone lists it and adds to it, only a
// file's owner removes it) if missing, and refuses one that is not a
// directory, or that another uid owns without the sticky bit: there,
// someone else could remove or replace our socket.
func shareDir(dir string) error {
	if err := os.Mkdir(dir, 0o777); err == nil {
		if err := os.Chmod(dir, 0o777|os.ModeSticky); err != nil {
			return err
		}
	} else if !errors.Is(err, os.ErrExist) {
		return err
	}
	var st unix.Stat_t
	if err := unix.Lstat(dir, &st); err != nil {
		return err
	}
	switch {
	case st.Mode&unix.S_IFMT != unix.S_IFDIR:
		return msg.Errorf("stat: share directory %s is not a directory", dir)
	case st.Uid != uint32(os.Getuid()) && st.Uid != 0 && st.Mode&unix.S_ISVTX == 0:
		return msg.Errorf("stat: share directory %s belongs to uid %d and is not sticky", dir, st.Uid)
	}
	return nil
}

// sharer serves a registry's segment to the uids its policy admits.
type sharer struct {
	lfd    int // the listening socket
	rofd   int // the segment, opened read-only
	path   string
	policy link.Policy
	uid    uint32
	done   chan struct{} // closed when serve returns; nil if it never ran
}

// share starts serving seg (the memfd fd) as name in dir under policy.
func share(dir, name string, fd int, policy link.Policy) (*sharer, error) {
	if err := shareDir(dir); err != nil {
		return nil, err
	}
	ro, err := unix.Open("/proc/self/fd/"+strconv.Itoa(fd), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, msg.Errorf("stat: reopen the segment read-only: %w", err)
	}
	s := &sharer{lfd: -1, rofd: ro, policy: policy, uid: uint32(os.Getuid()),
		path: filepath.Join(dir, strconv.Itoa(os.Getuid())+"."+name+".sock")}
	os.Remove(s.path) // ours from an earlier process of the same pid, if any
	if s.lfd, err = fdpass.Listen(s.path); err != nil {
		s.close()
		return nil, msg.Errorf("stat: listen on %s: %w", s.path, err)
	}
	s.done = make(chan struct{})
	go s.serve()
	return s, nil
}

// serve answers each connection: the read-only segment for a peer the
// policy admits, nothing for another; until close shuts the listener.
func (s *sharer) serve() {
	defer close(s.done)
	fdpass.Serve(s.lfd, func(nfd int) {
		if cred, err := unix.GetsockoptUcred(nfd, unix.SOL_SOCKET, unix.SO_PEERCRED); err == nil &&
			s.policy.AllowsPeer(s.uid, nfd, cred.Uid, cred.Gid) {
			tv := unix.NsecToTimeval(int64(shareTimeout))
			unix.SetsockoptTimeval(nfd, unix.SOL_SOCKET, unix.SO_SNDTIMEO, &tv)
			unix.Sendmsg(nfd, []byte("SPINSTAT"), unix.UnixRights(s.rofd), nil, 0)
		}
		unix.Close(nfd)
	})
}

// close stops serving and removes the socket.
func (s *sharer) close() {
	if s.lfd >= 0 {
		unix.Shutdown(s.lfd, unix.SHUT_RDWR) // wakes the accept
		if s.done != nil {
			<-s.done
		}
		unix.Close(s.lfd)
		os.Remove(s.path)
	}
	unix.Close(s.rofd)
}
