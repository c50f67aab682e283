package topic

import (
	"path/filepath"
	"strconv"

	"github.com/spinwire/spinwire/internal/fdpass"
	"github.com/spinwire/spinwire/internal/msg"
	"github.com/spinwire/spinwire/internal/rundir"
	"github.com/spinwire/spinwire/layout"
	"github.com/spinwire/spinwire/link"
	"golang.org/x/sys/unix"
)

// A subscriber of another uid's topic (share.go): its Dir is the
// publisher's SharedDir, where the topic is NAME.sock, not a name.

// sharedOwner returns uid when dir is SharedDir(uid), else -1: a
// subscriber refuses a publisher there unless uid owns the directory
// (rundir.CheckServer).
func sharedOwner(dir string) int64 {
	clean := filepath.Clean(dir)
	if uid, ok := link.SharedDirOwner(filepath.Dir(clean)); ok && clean == SharedDir(uid) {
		return int64(uid)
	}
	return -1
}

// remote reports whether topic name in dir is reached through the
// publisher's socket: NAME.sock is there and NAME is not.
func remote(dir, name string) bool {
	var st unix.Stat_t
	return unix.Stat(filepath.Join(dir, name+".sock"), &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFSOCK &&
		unix.Lstat(filepath.Join(dir, name), &st) != nil
}

// exchange connects to the publisher's socket for topic name in dir,
// sends a read-only descriptor of the subscriber segment ss and maps the
// topic it sends back, checked against sc. It returns the view and the
// connection, which the subscriber keeps open while it follows this
// publisher. A publisher that refuses us closes without an answer:
// ErrPermission.
func exchange(dir, name string, ss *subSeg, sc *layout.Schema, opts SubscribeOptions) (view, int, error) {
	path := filepath.Join(dir, name+".sock")
	conn, err := unix.Socket(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return view{}, -1, err
	}
	fail := func(err error) (view, int, error) {
		unix.Close(conn)
		return view{}, -1, err
	}
	tv := unix.NsecToTimeval(int64(shareTimeout))
	unix.SetsockoptTimeval(conn, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	unix.SetsockoptTimeval(conn, unix.SOL_SOCKET, unix.SO_SNDTIMEO, &tv)
	if err := unix.Connect(conn, &unix.SockaddrUnix{Name: path}); err != nil {
		if err == unix.ECONNREFUSED || err == unix.ENOENT {
			return fail(msg.Errorf("%w: %s (no one listens on %s)", ErrNoPublisher, name, path))
		}
		return fail(msg.Errorf("topic: connect %s: %w", path, err))
	}
	if err := rundir.CheckServer("topic: the publisher at "+path, dir, conn, sharedOwner(dir)); err != nil {
		return fail(msg.Errorf("%w: %v", ErrPermission, err))
	}
	ro, err := unix.Open("/proc/self/fd/"+strconv.Itoa(ss.seg.Fd()), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fail(err)
	}
	_, err = unix.SendmsgN(conn, []byte("SPINTSUB"), unix.UnixRights(ro), nil, 0)
	unix.Close(ro)
	fds, k, err := answer(conn, name, err)
	if err != nil {
		return fail(err)
	}
	bellfd := -1
	if k == 2 {
		bellfd = fds[1]
	}
	seg, err := layout.OpenFd(fds[0], layout.Options{ReadOnly: true, Fingerprint: topicFPrint, MaxLength: opts.MaxLength})
	if err != nil {
		unix.Close(fds[0])
		closeFd(bellfd)
		return fail(err)
	}
	v, err := checkView(seg.Body(), sc)
	if err != nil {
		seg.Close()
		closeFd(bellfd)
		return fail(err)
	}
	var st unix.Stat_t
	unix.Stat(path, &st)
	v.seg, v.epoch, v.ino = seg, seg.Header().Epoch, st.Ino
	if bellfd >= 0 {
		b, err := layout.OpenFd(bellfd, layout.Options{Fingerprint: bellFPrint, MaxLength: 1 << 16, ReadyWait: -1})
		if err != nil {
			unix.Close(bellfd)
		} else {
			v.adoptBell(b)
		}
	}
	return v, conn, nil
}

// answer receives the publisher's answer on conn to the subscriber
// segment, whose send gave sent: the topic and its bell (an earlier
// publisher sends none), k descriptors in fds; or why not. A publisher
// that refuses at once (refused) may close before the segment comes (the
// send fails) or with it unread (the kernel reports the reset before
// what it sent): its answer is read all the same.
func answer(conn int, name string, sent error) (fds [2]int, k int, err error) {
	var buf [16]byte
	n, k, err := fdpass.RecvN(conn, buf[:], fds[:])
	if err == unix.ECONNRESET {
		n, k, err = fdpass.RecvN(conn, buf[:], fds[:])
	}
	switch {
	case err == nil && k == 0 && n > 0:
		return fds, 0, refused(name, string(buf[:n]))
	case err == nil && k > 0 && sent == nil:
		return fds, k, nil
	}
	for _, fd := range fds[:k] {
		unix.Close(fd)
	}
	if err == nil {
		err = sent
	}
	if err == nil {
		err = errNoAnswer
	}
	return fds, 0, msg.Errorf("%w: %s: the publisher sent no topic (refused by its policy?): %v", ErrPermission, name, err)
}

// refused is the error for a publisher's answer without the topic: why it
// said (share.go's shareDeny, shareBusy, shareFull), or nothing (an
// earlier version, or a connection it closed at once).
func refused(name, why string) error {
	switch why {
	case shareDeny:
		return msg.Errorf("%w: %s: refused by the publisher's policy", ErrPermission, name)
	case shareBusy:
		return msg.Errorf("%w: %s: set-ups of this uid or process are under way to the publisher's limit", errSetupsBusy, name)
	case shareFull:
		return msg.Errorf("%w: %s: the publisher keeps as many subscribers of this uid or process as it allows", ErrBusy, name)
	}
	return msg.Errorf("%w: %s: the publisher sent no topic (refused by its policy?)", ErrPermission, name)
}

// errNoAnswer: the publisher closed the connection without a word.
var errNoAnswer = msg.Errorf("closed without an answer")

// errSetupsBusy is ErrBusy when the publisher said shareBusy: the
// subscriber tries again (subscribeRemote).
var errSetupsBusy = msg.Errorf("%w (set-ups)", ErrBusy)

// closeFd closes fd unless it is -1.
func closeFd(fd int) {
	if fd >= 0 {
		unix.Close(fd)
	}
}
