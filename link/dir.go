package link

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/spinwire/spinwire/internal/msg"
	"github.com/spinwire/spinwire/internal/rundir"
	"github.com/spinwire/spinwire/layout"
	"golang.org/x/sys/unix"
)

// maxSocketPath is the longest path sockaddr_un holds, less its NUL.
const maxSocketPath = 107

// Dir returns the directory holding this uid's sockets and lock files:
// $XDG_RUNTIME_DIR/spinwire when that variable names a directory, else
// /dev/shm/spinwire-UID. It is created with mode 0700 if missing, and
// refused if it exists with another owner or with read or write
// permission for anyone else (0711, which a server whose Policy admits
// other uids sets on SharedDir, is accepted: each socket's own mode keeps
// out whom its server does not admit).
func Dir() (string, error) {
	dir := ""
	if x := os.Getenv("XDG_RUNTIME_DIR"); x != "" {
		// unix.Stat, not os.Stat: os's FileInfo links time formatting and
		// the time zone database into every server (TestServerBinaryIsLean).
		var st unix.Stat_t
		if unix.Stat(x, &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFDIR {
			dir = filepath.Join(x, "spinwire")
		}
	}
	if dir == "" {
		dir = SharedDir(uint32(os.Getuid()))
	}
	return ensureDir(dir, 0o700)
}

// SharedDir is where a server of uid listens when its Policy admits other
// uids and Options.Dir is empty: /dev/shm/spinwire-UID, mode 0711, which
// any uid can traverse. A client of another uid dials with it as
// DialOptions.Dir; a client of the same uid finds the server there by
// itself (Dial looks there after Dir).
func SharedDir(uid uint32) string {
	return sharedPrefix + strconv.FormatUint(uint64(uid), 10)
}

const sharedPrefix = "/dev/shm/spinwire-"

// SharedDirOwner reports whether dir is SharedDir(uid) for some uid, and
// which. Anyone may make a directory in /dev/shm, so a client that dials
// a server there (Dial) refuses it unless that uid owns the directory.
func SharedDirOwner(dir string) (uid uint32, ok bool) {
	clean := filepath.Clean(dir)
	s, ok := strings.CutPrefix(clean, sharedPrefix)
	u, err := strconv.ParseUint(s, 10, 32)
	if !ok || err != nil || SharedDir(uint32(u)) != clean {
		return 0, false
	}
	return uint32(u), true
}

// sharedOwner is SharedDirOwner's uid, or -1 (rundir.CheckServer).
func sharedOwner(dir string) int64 {
	if uid, ok := SharedDirOwner(dir); ok {
		return int64(uid)
	}
	return -1
}

// sharedDir makes SharedDir for this uid, or opens it up to 0711.
func sharedDir() (string, error) { return ensureDir(SharedDir(uint32(os.Getuid())), 0o711) }

// ensureDir creates dir with mode (0700 or 0711) if it is missing and
// checks it (rundir.Ensure).
func ensureDir(dir string, mode uint32) (string, error) {
	if err := rundir.Ensure("link: socket directory", dir, mode); err != nil {
		return "", err
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

// schemas returns the schemas of Req and Resp: what Listen and Dial both
// check first, that the two are fixed-layout.
func schemas[Req, Resp any]() (reqS, respS *layout.Schema, err error) {
	if reqS, err = layout.Of[Req](); err != nil {
		return nil, nil, err
	}
	if respS, err = layout.Of[Resp](); err != nil {
		return nil, nil, err
	}
	return reqS, respS, nil
}

// schemasAndDir is what Dial checks first: the schemas, and the socket
// directory (dir, or Dir() when empty).
func schemasAndDir[Req, Resp any](dir string) (reqS, respS *layout.Schema, d string, err error) {
	if reqS, respS, err = schemas[Req, Resp](); err != nil {
		return nil, nil, "", err
	}
	if dir == "" {
		if dir, err = Dir(); err != nil {
			return nil, nil, "", err
		}
	}
	return reqS, respS, dir, nil
}
