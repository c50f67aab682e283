package link

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/spinwire/spinwire/internal/msg"
	"github.com/spinwire/spinwire/layout"
	"golang.org/x/sys/unix"
)

// maxSocketPath is the longest path sockaddr_un holds, less its NUL.
const maxSocketPath = 107

// Dir returns the directory holding this uid's sockets and lock files:
// $XDG_RUNTIME_DIR/spinwire when that variable names a directory, else
// /dev/shm/spinwire-UID. It is created with mode 0700 if missing, and
// refused if it exists with another owner or wider permissions.
func Dir() (string, error) {
	var dir string
	if x := os.Getenv("XDG_RUNTIME_DIR"); x != "" {
		if fi, err := os.Stat(x); err == nil && fi.IsDir() {
			dir = filepath.Join(x, "spinwire")
		}
	}
	if dir == "" {
		dir = filepath.Join("/dev/shm", "spinwire-"+strconv.Itoa(os.Getuid()))
	}
	if err := os.Mkdir(dir, 0o700); err != nil && !os.IsExist(err) {
		return "", msg.Errorf("link: socket directory: %w", err)
	}
	var st unix.Stat_t
	if err := unix.Lstat(dir, &st); err != nil {
		return "", msg.Errorf("link: socket directory: %w", err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR || st.Uid != uint32(os.Getuid()) || st.Mode&0o077 != 0 {
		return "", msg.Errorf("link: socket directory %s must be a directory owned by uid %d with mode 0700 (mode %#o, owner %d)", dir, os.Getuid(), st.Mode&0o7777, st.Uid)
	}
	return dir, nil
}

// paths returns the socket and lock file of name in dir.
func paths(dir, name string) (sock, lock string, err error) {
	if name == "" || strings.ContainsAny(name, "/\x00") || name == "." || name == ".." {
		return "", "", msg.Errorf("%w: %q", ErrInvalidName, name)
	}
	sock = filepath.Join(dir, name+".sock")
	if len(sock) > maxSocketPath {
		return "", "", msg.Errorf("%w: socket path %q is %d bytes, the limit is %d", ErrInvalidName, sock, len(sock), maxSocketPath)
	}
	return sock, filepath.Join(dir, name+".lock"), nil
}

// lockName takes the lock file of a name with an open-file-description
// lock, held for the life of the returned fd. A live server holds it; a
// file whose lock can be taken belongs to a dead one, whose socket the new
// server may remove.
func lockName(lock string) (int, error) {
	fd, err := unix.Open(lock, unix.O_RDWR|unix.O_CREAT|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0o600)
	if err != nil {
		return -1, msg.Errorf("link: lock %s: %w", lock, err)
	}
	lk := unix.Flock_t{Type: unix.F_WRLCK, Whence: 0}
	if err := unix.FcntlFlock(uintptr(fd), unix.F_OFD_SETLK, &lk); err != nil {
		unix.Close(fd)
		if err == unix.EAGAIN || err == unix.EACCES {
			return -1, msg.Errorf("%w: %s", ErrInUse, lock)
		}
		return -1, msg.Errorf("link: lock %s: %w", lock, err)
	}
	return fd, nil
}

// Cleanup removes the socket and lock file that a dead server left for
// name. It refuses (ErrInUse) while a live server holds the name.
func Cleanup(name string) error {
	dir, err := Dir()
	if err != nil {
		return err
	}
	return cleanupIn(dir, name)
}

func cleanupIn(dir, name string) error {
	sock, lock, err := paths(dir, name)
	if err != nil {
		return err
	}
	fd, err := lockName(lock)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	if err := os.Remove(sock); err != nil && !os.IsNotExist(err) {
		return err
	}
	if err := os.Remove(lock); err != nil && !os.IsNotExist(err) {
		return err
	}
	return nil
}

// schemasAndDir is what Listen and Dial both check first: that Req and Resp
// are fixed-layout (their schemas), and the socket directory (dir, or Dir()
// when empty).
func schemasAndDir[Req, Resp any](dir string) (reqS, respS *layout.Schema, d string, err error) {
	if reqS, err = layout.Of[Req](); err != nil {
		return nil, nil, "", err
	}
	if respS, err = layout.Of[Resp](); err != nil {
		return nil, nil, "", err
	}
	if dir == "" {
		if dir, err = Dir(); err != nil {
			return nil, nil, "", err
		}
	}
	return reqS, respS, dir, nil
}
