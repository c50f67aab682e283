// Package fdpass is what the packages that hand descriptors to other
// processes over Unix sockets share: the accept loop of a listener and
// the receipt of one descriptor, both treating the peer as hostile.
package fdpass

import (
	"os"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Serve accepts connections on the listening socket lfd and hands each
// to handle, which owns it, until an accept fails for good (the listener
// was shut down). An interrupted or aborted accept is tried again; a lack
// of descriptors or memory waits 10 ms first.
func Serve(lfd int, handle func(conn int)) {
	for {
		nfd, _, err := unix.Accept4(lfd, unix.SOCK_CLOEXEC)
		switch {
		case err == nil:
			handle(nfd)
		case err == unix.EINTR || err == unix.ECONNABORTED:
		case err == unix.EMFILE || err == unix.ENFILE || err == unix.ENOMEM:
			time.Sleep(10 * time.Millisecond)
		default:
			return
		}
	}
}

// Recv receives one message into buf and at most one descriptor with it
// (close-on-exec; any more that came are closed, and the kernel drops
// those its control buffer had no room for). It returns the message's
// length and the descriptor, -1 when none came; a read the Go runtime's
// signals interrupted is tried again.
func Recv(conn int, buf []byte) (n, fd int, err error) {
	var fds [1]int
	n, k, err := RecvN(conn, buf, fds[:])
	if err != nil || k == 0 {
		return n, -1, err
	}
	return n, fds[0], nil
}

// RecvN is Recv for up to len(fds) descriptors, in the order they were
// sent, into fds; it returns how many came.
func RecvN(conn int, buf []byte, fds []int) (n, k int, err error) {
	oob := make([]byte, unix.CmsgSpace(4*len(fds)))
	var oobn int
	for {
		n, oobn, _, _, err = unix.Recvmsg(conn, buf, oob, unix.MSG_CMSG_CLOEXEC)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		return 0, 0, err
	}
	if msgs, err := unix.ParseSocketControlMessage(oob[:oobn]); err == nil {
		for _, m := range msgs {
			if got, err := unix.ParseUnixRights(&m); err == nil {
				for _, f := range got {
					if k < len(fds) {
						fds[k] = f
						k++
					} else {
						unix.Close(f)
					}
				}
			}
		}
	}
	return n, k, nil
}

// Listen binds a SOCK_SEQPACKET socket at path, makes it 0666 (whoever
// listens checks each peer's credentials at the accept) and listens on
// it. A file already at path makes it fail: the caller removes a stale
// one first. If the mode cannot be set or listen fails, the socket is
// closed, the file removed and the error returned.
func Listen(path string) (int, error) {
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	if err := unix.Bind(fd, &unix.SockaddrUnix{Name: path}); err != nil {
		unix.Close(fd)
		return -1, err
	}
	err = ChmodSocket(path, 0o666)
	if err == nil {
		err = unix.Listen(fd, 64)
	}
	if err != nil {
		unix.Close(fd)
		unix.Unlink(path)
		return -1, err
	}
	return fd, nil
}

// ChmodSocket sets the mode of the socket file at path, which this
// process has just bound, without following a symbolic link: where
// someone else owns the directory (a shared sticky one made by another
// uid), they may replace the socket with a link between the bind and a
// chmod(2) of the path, and chmod would change whatever the link leads to
// (a root process: any file). It opens the path O_PATH|O_NOFOLLOW, refuses
// anything but a socket of this uid (ENOTSOCK, EPERM) and changes the
// inode it opened, through /proc/self/fd. Cost: an open, an fstat, a
// chmod and a close; set-up only.
func ChmodSocket(path string, mode uint32) error {
	fd, err := unix.Open(path, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "chmod", Path: path, Err: err}
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return &os.PathError{Op: "chmod", Path: path, Err: err}
	}
	switch {
	case st.Mode&unix.S_IFMT != unix.S_IFSOCK:
		return &os.PathError{Op: "chmod", Path: path, Err: syscall.ENOTSOCK}
	case st.Uid != uint32(os.Getuid()):
		return &os.PathError{Op: "chmod", Path: path, Err: syscall.EPERM}
	}
	if err := syscall.Chmod("/proc/self/fd/"+strconv.Itoa(fd), mode); err != nil {
		return &os.PathError{Op: "chmod", Path: path, Err: err}
	}
	return nil
}
