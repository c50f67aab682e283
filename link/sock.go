package link

import (
	"slices"
	"time"
	"unsafe"

	"github.com/spinwire/spinwire/internal/msg"
	"golang.org/x/sys/unix"
)

// peerCred reads SO_PEERCRED into a value: the x/sys wrapper allocates.
func peerCred(fd int) (unix.Ucred, error) {
	var cred unix.Ucred
	l := uint32(unsafe.Sizeof(cred))
	_, _, e := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(fd), unix.SOL_SOCKET, unix.SO_PEERCRED,
		uintptr(unsafe.Pointer(&cred)), uintptr(unsafe.Pointer(&l)), 0)
	if e != 0 {
		return cred, e
	}
	return cred, nil
}

// peerInGroups reports whether one of the supplementary groups of the
// peer of the Unix socket conn, as the kernel recorded them at its
// connect (SO_PEERGROUPS), is in gids. A peer's groups it cannot read
// admit nothing.
func peerInGroups(conn int, gids []uint32) bool {
	var buf [256]uint32
	groups, n := buf[:], uint32(len(buf)*4)
	for range 2 { // a second time with room for all, if they did not fit
		_, _, e := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(conn), unix.SOL_SOCKET, unix.SO_PEERGROUPS,
			uintptr(unsafe.Pointer(&groups[0])), uintptr(unsafe.Pointer(&n)), 0)
		switch {
		case e == 0:
			for _, g := range groups[:min(int(n/4), len(groups))] {
				if slices.Contains(gids, g) {
					return true
				}
			}
			return false
		case e != unix.ERANGE || n/4 <= uint32(len(groups)) || n > 1<<20:
			return false
		}
		groups = make([]uint32, n/4)
	}
	return false
}

// sendMsg sends one datagram, with the fds that are ≥ 0 (at most maxFds)
// as SCM_RIGHTS. Raw sendmsg(2) with the control message on the stack: no
// allocation.
func sendMsg(sock int, b []byte, fds ...int) error {
	var iov unix.Iovec
	if len(b) > 0 {
		iov.Base = &b[0]
		iov.SetLen(len(b))
	}
	mh := unix.Msghdr{Iov: &iov, Iovlen: 1}
	var oob [cmsgRightsSpace]byte
	n := 0
	for _, fd := range fds {
		if fd >= 0 && n < maxFds {
			*(*int32)(unsafe.Pointer(&oob[unix.CmsgLen(4*n)])) = int32(fd)
			n++
		}
	}
	if n > 0 {
		h := (*unix.Cmsghdr)(unsafe.Pointer(&oob[0]))
		h.Level, h.Type = unix.SOL_SOCKET, unix.SCM_RIGHTS
		h.SetLen(unix.CmsgLen(4 * n))
		mh.Control = &oob[0]
		mh.SetControllen(unix.CmsgSpace(4 * n))
	}
	for {
		_, _, e := unix.Syscall(unix.SYS_SENDMSG, uintptr(sock), uintptr(unsafe.Pointer(&mh)), unix.MSG_NOSIGNAL)
		switch e {
		case 0:
			return nil
		case unix.EINTR:
			continue
		}
		return e
	}
}

// cmsgRightsSpace holds one SCM_RIGHTS control message of up to four fds;
// a welcome carries maxFds (the arena, the liveness page).
const (
	cmsgRightsSpace = 32
	maxFds          = 2
)

// recvMsg receives one datagram into buf and up to len(fds) passed fds
// (the rest of fds is set to -1); extra fds a hostile peer sends are
// closed. Raw recvmsg(2) with the control buffer on the stack: no
// allocation.
func recvMsg(sock int, buf []byte, fds []int) (n int, err error) {
	var iov unix.Iovec
	if len(buf) > 0 {
		iov.Base = &buf[0]
		iov.SetLen(len(buf))
	}
	var oob [cmsgRightsSpace]byte
	mh := unix.Msghdr{Iov: &iov, Iovlen: 1, Control: &oob[0]}
	mh.SetControllen(len(oob))
	var r uintptr
	for {
		var e unix.Errno
		r, _, e = unix.Syscall(unix.SYS_RECVMSG, uintptr(sock), uintptr(unsafe.Pointer(&mh)), unix.MSG_CMSG_CLOEXEC)
		if e == unix.EINTR {
			continue
		}
		if e != 0 {
			return 0, e
		}
		break
	}
	for i := range fds {
		fds[i] = -1
	}
	got := 0
	// Walk the control messages; the kernel wrote at most Controllen bytes.
	ctl := oob[:min(int(mh.Controllen), len(oob))]
	for len(ctl) >= unix.CmsgLen(0) {
		h := (*unix.Cmsghdr)(unsafe.Pointer(&ctl[0]))
		l := int(h.Len)
		if l < unix.CmsgLen(0) || l > len(ctl) {
			break
		}
		if h.Level == unix.SOL_SOCKET && h.Type == unix.SCM_RIGHTS {
			for off := unix.CmsgLen(0); off+4 <= l; off += 4 {
				f := int(*(*int32)(unsafe.Pointer(&ctl[off])))
				if got < len(fds) {
					fds[got] = f
					got++
				} else {
					unix.Close(f)
				}
			}
		}
		next := unix.CmsgSpace(l - unix.CmsgLen(0))
		if next > len(ctl) {
			break
		}
		ctl = ctl[next:]
	}
	if mh.Flags&(unix.MSG_TRUNC|unix.MSG_CTRUNC) != 0 {
		closeFds(fds)
		return 0, msg.Errorf("%w: truncated datagram", ErrProtocol)
	}
	return int(r), nil
}

// closeFds closes the fds that are ≥ 0 and sets them to -1.
func closeFds(fds []int) {
	for i, fd := range fds {
		if fd >= 0 {
			unix.Close(fd)
			fds[i] = -1
		}
	}
}

// accept4 accepts a connection without asking for the peer's address (the
// x/sys wrapper allocates one).
func accept4(lfd int) (int, error) {
	r, _, e := unix.Syscall6(unix.SYS_ACCEPT4, uintptr(lfd), 0, 0, unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, 0, 0)
	if e != 0 {
		return -1, e
	}
	return int(r), nil
}

// setTimeouts bounds blocking socket calls during set-up.
func setTimeouts(sock int, d time.Duration) {
	tv := unix.NsecToTimeval(d.Nanoseconds())
	unix.SetsockoptTimeval(sock, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	unix.SetsockoptTimeval(sock, unix.SOL_SOCKET, unix.SO_SNDTIMEO, &tv)
}
