package rundir

import (
	"os"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
)

// Ensure creates dir with mode if it is missing — 0700, or 0711 for a
// directory other uids traverse to reach a socket in it — and checks
// that it is a directory (not a symbolic link to one) owned by this uid,
// with no read or write permission for anyone else. A 0700 directory is
// opened up to 0711 when mode asks for it; 0711 is accepted when mode is
// 0700 (a server that admits other uids may have opened it). what names
// the directory in errors ("link: socket directory"); an error of a
// system call wraps its errno.
//
// Ensure calls syscall, which every Go program links (os uses it), not os
// or x/sys's chmod (which tries fchmodat2 first): every function in a
// lean server's binary is resident (see cmd/internal/echo). Cost: a
// mkdir and an lstat.
func Ensure(what, dir string, mode uint32) error {
	if err := syscall.Mkdir(dir, mode); err != nil && err != syscall.EEXIST {
		return &dirError{what + " " + dir + ": " + err.Error(), err}
	}
	var st unix.Stat_t
	if err := unix.Lstat(dir, &st); err != nil {
		return &dirError{what + " " + dir + ": " + err.Error(), err}
	}
	uid := uint32(os.Getuid())
	if st.Mode&unix.S_IFMT != unix.S_IFDIR || st.Uid != uid || st.Mode&0o066 != 0 {
		return &dirError{what + " " + dir + " must be a directory owned by uid " + strconv.FormatUint(uint64(uid), 10) +
			" with mode 0700 or 0711 (mode 0" + strconv.FormatUint(uint64(st.Mode&0o7777), 8) +
			", owner " + strconv.FormatUint(uint64(st.Uid), 10) + ")", nil}
	}
	if mode&0o011 != 0 && st.Mode&0o011 != 0o011 {
		if err := syscall.Chmod(dir, (st.Mode&0o7777)|0o011); err != nil {
			return &dirError{what + " " + dir + ": " + err.Error(), err}
		}
	}
	return nil
}

// dirError is Ensure's error: its message, and the errno it wraps (nil
// for a directory refused for its type, owner or mode).
type dirError struct {
	msg string
	err error
}

func (e *dirError) Error() string { return e.msg }
func (e *dirError) Unwrap() error { return e.err }

// CheckServer checks who listens on fd, a Unix socket connected to a
// server found in dir: it must run as this process's uid, as root, or as
// the uid that owns dir — whoever could put a socket there, its mode
// permitting. When owner ≥ 0 dir must also belong to that uid: a
// directory named for a uid in a place where anyone may make one
// (/dev/shm), which another uid could have made first and served from.
// what names the server in errors. Cost: a getsockopt(2) and a stat(2).
func CheckServer(what, dir string, fd int, owner int64) error {
	cred, err := unix.GetsockoptUcred(fd, unix.SOL_SOCKET, unix.SO_PEERCRED)
	if err != nil {
		return &dirError{what + ": SO_PEERCRED: " + err.Error(), err}
	}
	var st unix.Stat_t
	if err := unix.Stat(dir, &st); err != nil {
		return &dirError{what + ": " + dir + ": " + err.Error(), err}
	}
	if owner >= 0 && int64(st.Uid) != owner {
		return &dirError{what + ": " + dir + " belongs to uid " + utoa(st.Uid) + ", not to uid " +
			strconv.FormatInt(owner, 10) + ": another uid made it, and serves there", nil}
	}
	if cred.Uid != uint32(os.Getuid()) && cred.Uid != 0 && cred.Uid != st.Uid {
		return &dirError{what + " runs as uid " + utoa(cred.Uid) + " (pid " + strconv.Itoa(int(cred.Pid)) +
			"): not this process's uid, root, nor the owner of " + dir + " (uid " + utoa(st.Uid) + ")", nil}
	}
	return nil
}

func utoa(v uint32) string { return strconv.FormatUint(uint64(v), 10) }
