package rundir

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// TestEnsure: a missing directory is made with the mode asked for; a 0700
// one is opened up to 0711 when asked and kept when not; a 0711 one is
// accepted for 0700; one that others may read or write, a symbolic link
// to a good directory, a file, and (as root) a directory of another uid
// are refused; a mkdir that fails wraps its errno.
func TestEnsure(t *testing.T) {
	root := t.TempDir()
	old := syscall.Umask(0)
	defer syscall.Umask(old)
	mode := func(p string) os.FileMode {
		fi, err := os.Lstat(p)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Mode() & 0o777
	}
	p := filepath.Join(root, "a")
	for _, c := range []struct {
		mode uint32
		want os.FileMode
	}{{0o700, 0o700}, {0o700, 0o700}, {0o711, 0o711}, {0o700, 0o711}} {
		if err := Ensure("test: directory", p, c.mode); err != nil || mode(p) != c.want {
			t.Fatalf("Ensure(%#o): %v, mode %#o, want %#o", c.mode, err, mode(p), c.want)
		}
	}
	bad := map[string]func(string) error{
		"0755":    func(p string) error { return os.Mkdir(p, 0o755) },
		"0733":    func(p string) error { return os.Mkdir(p, 0o733) },
		"symlink": func(p string) error { return os.Symlink(filepath.Join(root, "a"), p) },
		"file":    func(p string) error { return os.WriteFile(p, nil, 0o600) },
	}
	if os.Getuid() == 0 {
		bad["other uid"] = func(p string) error {
			if err := os.Mkdir(p, 0o700); err != nil {
				return err
			}
			return os.Chown(p, 12345, 12345)
		}
	}
	for name, mk := range bad {
		p := filepath.Join(root, strings.ReplaceAll(name, " ", "-"))
		if err := mk(p); err != nil {
			t.Fatal(err)
		}
		for _, m := range []uint32{0o700, 0o711} {
			err := Ensure("test: directory", p, m)
			if err == nil || !strings.Contains(err.Error(), "test: directory "+p+" must be a directory owned by uid") {
				t.Errorf("%s, Ensure(%#o): %v", name, m, err)
			}
		}
	}
	err := Ensure("test: directory", filepath.Join(root, "missing", "b"), 0o700)
	if !errors.Is(err, syscall.ENOENT) || !strings.HasPrefix(err.Error(), "test: directory ") {
		t.Fatalf("under a missing directory: %v", err)
	}
}

// TestCheckServer: a server of this uid passes in a directory of this
// uid; the directory must belong to the owner asked for; a descriptor
// that is not a socket, or a directory that is not there, is an error.
func TestCheckServer(t *testing.T) {
	sp, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(sp[0])
	defer unix.Close(sp[1])
	dir := t.TempDir()
	uid := int64(os.Getuid())
	if err := CheckServer("s", dir, sp[0], -1); err != nil {
		t.Fatal(err)
	}
	if err := CheckServer("s", dir, sp[0], uid); err != nil {
		t.Fatal(err)
	}
	if err := CheckServer("s", dir, sp[0], uid+1); err == nil || !strings.Contains(err.Error(), "another uid made it") {
		t.Errorf("a directory of another owner than asked: %v", err)
	}
	var pipe [2]int
	unix.Pipe2(pipe[:], unix.O_CLOEXEC)
	defer unix.Close(pipe[0])
	defer unix.Close(pipe[1])
	if err := CheckServer("s", dir, pipe[0], -1); !errors.Is(err, unix.ENOTSOCK) {
		t.Errorf("a pipe: %v", err)
	}
	if err := CheckServer("s", dir+"/gone", sp[0], -1); !errors.Is(err, unix.ENOENT) {
		t.Errorf("no directory: %v", err)
	}
}
