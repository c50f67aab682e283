package layout

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/spinwire/spinwire/internal/msg"
	"golang.org/x/sys/unix"
)

// Named segments. A segment reached by name is a sealed memfd like any
// other, so no process can shrink it under its readers: a reader of a plain
// file in /dev/shm that a peer truncates dies of SIGBUS at its next access,
// which no Go code can recover from. The name Dir/Name is a symbolic link
// to the creator's descriptor of the memfd:
//
//	Dir/Name -> /proc/<creator pid>/fd/<fd>
//
// Open follows the link (the kernel reopens the memfd; it needs the right
// to inspect the creator's descriptors: the same uid, or root), checks that
// what it reached is a regular file before opening it for writing, and
// refuses it unless it carries the seals, and unless the link and the file
// each belong to this uid or to the directory's owner (checkOwners): in
// /dev/shm, which anyone may write, a name made by another uid could lead
// a root process to that uid's segment, or a process to another of its
// own segments than the one the name says. The name lives as long as the
// creator holds the memfd: a creator that dies leaves a link that no longer
// resolves, which the next Create of the name takes over. Processes that
// opened the segment keep their mappings whatever happens to the name.

// procFdPrefix starts every link target Create writes.
const procFdPrefix = "/proc/"

// linkTarget is the path through which other processes reach our fd.
func linkTarget(fd int) string {
	return procFdPrefix + strconv.Itoa(os.Getpid()) + "/fd/" + strconv.Itoa(fd)
}

// publish makes the memfd fd reachable as path, taking over a link whose
// creator is gone. Any other file at path is left alone and refused with an
// error wrapping fs.ErrExist.
func publish(path string, fd int) error {
	target := linkTarget(fd)
	err := unix.Symlink(target, path)
	if err == unix.EEXIST && stale(path) {
		unix.Unlink(path)
		err = unix.Symlink(target, path)
	}
	if err != nil {
		return msg.Errorf("layout: create %s: %w", path, err)
	}
	return nil
}

// stale reports whether path is a link Create wrote that no longer reaches
// a file (its creator has closed the memfd or died).
func stale(path string) bool {
	var buf [64]byte
	n, err := unix.Readlink(path, buf[:])
	if err != nil || n == len(buf) || !isProcFd(string(buf[:n])) {
		return false
	}
	var st unix.Stat_t
	return unix.Stat(path, &st) == unix.ENOENT
}

// isProcFd reports whether target has the form /proc/<pid>/fd/<fd>.
func isProcFd(target string) bool {
	rest, ok := strings.CutPrefix(target, procFdPrefix)
	if !ok {
		return false
	}
	pid, fd, ok := strings.Cut(rest, "/fd/")
	return ok && digits(pid) && digits(fd)
}

func digits(s string) bool {
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return false
		}
	}
	return s != ""
}

// unpublish removes path if it is still our link to fd.
func unpublish(path string, fd int) error {
	var buf [64]byte
	n, err := unix.Readlink(path, buf[:])
	if err != nil || string(buf[:n]) != linkTarget(fd) {
		return nil // gone, or someone else's now
	}
	if err := unix.Unlink(path); err != nil && err != unix.ENOENT {
		return msg.Errorf("layout: remove %s: %w", path, err)
	}
	return nil
}

// Open maps the named segment Dir/Name and validates it as OpenFd does: it
// must be a sealed memfd (a plain file is refused with ErrNotSealed unless
// opts.AllowUnsealed), no longer than opts.MaxLength, with a valid header
// whose fingerprint is opts.Fingerprint (0: any). What the name leads to is
// checked to be a regular file before it is opened for writing, so a link
// planted to a device never reaches its open; the name and the segment
// must each belong to this uid or to the directory's owner. Errors wrap
// fs.ErrNotExist (no such segment, or its creator is gone), ErrUntrusted,
// ErrNotSealed, ErrTooShort, ErrBadMagic, ErrVersion, ErrBadLength or
// ErrNotReady, or are a *MismatchError.
func Open(opts Options) (*Segment, error) {
	if opts.Name == "" {
		return nil, msg.Errorf("%w: empty name (an anonymous segment is opened with OpenFd)", ErrInvalidName)
	}
	path, err := segmentPath(opts)
	if err != nil {
		return nil, err
	}
	fd, err := openRegular(path, opts.ReadOnly)
	if err != nil {
		return nil, err
	}
	s, err := openFd(fd, opts)
	if err != nil {
		unix.Close(fd)
		return nil, msg.Errorf("layout: %s: %w", path, err)
	}
	s.path = path
	return s, nil
}

// checkOwners refuses a name (path) or the segment it leads to (of uid
// segUID) that belongs to neither this process's uid nor the owner of the
// directory: where anyone may add a name (/dev/shm, DefaultDir), another
// uid could have put it there — leading to its own segment, or to another
// of ours. Cost: an lstat and a stat.
func checkOwners(path string, segUID uint32) error {
	var link, dir unix.Stat_t
	if err := unix.Lstat(path, &link); err != nil {
		return msg.Errorf("layout: stat %s: %w", path, err)
	}
	if err := unix.Stat(filepath.Dir(path), &dir); err != nil {
		return msg.Errorf("layout: stat %s: %w", filepath.Dir(path), err)
	}
	uid := uint32(os.Getuid())
	for _, c := range []struct {
		what string
		uid  uint32
	}{{"the name", link.Uid}, {"the segment", segUID}} {
		if c.uid != uid && c.uid != dir.Uid {
			return msg.Errorf("%w: %s %s belongs to uid %d: neither this process's uid (%d) nor the owner of its directory (%d)",
				ErrUntrusted, c.what, path, c.uid, uid, dir.Uid)
		}
	}
	return nil
}

// openRegular opens path read-write (or read-only) after checking, through an O_PATH
// descriptor that opens nothing, that it leads to a regular file.
func openRegular(path string, readOnly bool) (int, error) {
	pfd, err := unix.Open(path, unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, msg.Errorf("layout: open %s: %w", path, err)
	}
	defer unix.Close(pfd)
	var st unix.Stat_t
	if err := unix.Fstat(pfd, &st); err != nil {
		return -1, msg.Errorf("layout: stat %s: %w", path, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return -1, msg.Errorf("%w: %s leads to a file of mode %#o, not a segment", ErrNotSealed, path, st.Mode)
	}
	if err := checkOwners(path, st.Uid); err != nil {
		return -1, err
	}
	mode := unix.O_RDWR
	if readOnly {
		mode = unix.O_RDONLY
	}
	fd, err := unix.Open(procFdPrefix+"self/fd/"+strconv.Itoa(pfd), mode|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, msg.Errorf("layout: open %s: %w", path, err)
	}
	return fd, nil
}
