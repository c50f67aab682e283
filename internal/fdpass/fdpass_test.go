package fdpass

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// TestRecv: one descriptor comes through, extra ones are closed, and a
// message without one says -1.
func TestRecv(t *testing.T) {
	var pipe [2]int
	sp, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(sp[0])
	defer unix.Close(sp[1])
	unix.Pipe(pipe[:])
	defer unix.Close(pipe[0])
	defer unix.Close(pipe[1])
	unix.Sendmsg(sp[0], []byte("two"), unix.UnixRights(pipe[0], pipe[1]), nil, 0)
	var buf [8]byte
	n, fd, err := Recv(sp[1], buf[:])
	if err != nil || n != 3 || fd < 0 {
		t.Fatalf("%d %d %v", n, fd, err)
	}
	unix.Close(fd)
	unix.Sendmsg(sp[0], []byte("none"), nil, nil, 0)
	if n, fd, err := Recv(sp[1], buf[:]); err != nil || n != 4 || fd != -1 {
		t.Fatalf("%d %d %v", n, fd, err)
	}
	unix.Close(sp[0])
	if n, fd, err := Recv(sp[1], buf[:]); err != nil || n != 0 || fd != -1 {
		t.Fatalf("after close: %d %d %v", n, fd, err)
	}
}

// TestRecvN: descriptors come in the order sent, up to the room given;
// the rest are closed.
func TestRecvN(t *testing.T) {
	sp, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(sp[0])
	defer unix.Close(sp[1])
	var a, b [2]int
	unix.Pipe(a[:])
	unix.Pipe(b[:])
	for _, fd := range append(a[:], b[:]...) {
		defer unix.Close(fd)
	}
	var buf [8]byte
	for _, room := range []int{2, 3} {
		unix.Sendmsg(sp[0], []byte("x"), unix.UnixRights(a[0], b[1], a[1]), nil, 0)
		fds := make([]int, room)
		_, k, err := RecvN(sp[1], buf[:], fds)
		if err != nil || k != room {
			t.Fatalf("room %d: %d, %v", room, k, err)
		}
		ino := func(fd int) uint64 {
			var st unix.Stat_t
			unix.Fstat(fd, &st)
			return st.Ino
		}
		if ino(fds[0]) != ino(a[0]) || ino(fds[1]) != ino(b[1]) {
			t.Fatalf("room %d: out of order", room)
		}
		for _, fd := range fds[:k] {
			unix.Close(fd)
		}
	}
}

// TestServe: connections reach the handler until the listener shuts down.
func TestServe(t *testing.T) {
	path := t.TempDir() + "/s"
	l, _ := unix.Socket(unix.AF_UNIX, unix.SOCK_SEQPACKET, 0)
	if err := unix.Bind(l, &unix.SockaddrUnix{Name: path}); err != nil {
		t.Fatal(err)
	}
	unix.Listen(l, 4)
	got := make(chan int, 4)
	done := make(chan struct{})
	go func() { Serve(l, func(c int) { got <- c }); close(done) }()
	for range 2 {
		c, _ := unix.Socket(unix.AF_UNIX, unix.SOCK_SEQPACKET, 0)
		if err := unix.Connect(c, &unix.SockaddrUnix{Name: path}); err != nil {
			t.Fatal(err)
		}
		unix.Close(<-got)
		unix.Close(c)
	}
	unix.Shutdown(l, unix.SHUT_RDWR)
	<-done
	unix.Close(l)
}

// TestListen: the socket file is made 0666 and takes connections; a path
// already taken, or one whose mode cannot be set (an abstract name, which
// has no file), is an error and leaves no descriptor open.
func TestListen(t *testing.T) {
	path := t.TempDir() + "/s"
	l, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(l)
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil || st.Mode&0o777 != 0o666 {
		t.Fatalf("mode %o, %v", st.Mode&0o777, err)
	}
	c, _ := unix.Socket(unix.AF_UNIX, unix.SOCK_SEQPACKET, 0)
	defer unix.Close(c)
	if err := unix.Connect(c, &unix.SockaddrUnix{Name: path}); err != nil {
		t.Fatalf("connect: %v", err)
	}
	if fd, err := Listen(path); err == nil || fd != -1 {
		t.Fatalf("a taken path: fd %d, %v", fd, err)
	}
	abstract := fmt.Sprintf("@spinwire-fdpass-test-%d", unix.Getpid())
	if fd, err := Listen(abstract); err == nil || fd != -1 {
		t.Fatalf("an abstract name: fd %d, %v", fd, err)
	}
	// The abstract name is free again: the failed Listen closed its socket.
	s, _ := unix.Socket(unix.AF_UNIX, unix.SOCK_SEQPACKET, 0)
	defer unix.Close(s)
	if err := unix.Bind(s, &unix.SockaddrUnix{Name: abstract}); err != nil {
		t.Fatalf("abstract name still bound: %v", err)
	}
}

// TestChmodSocket: a bound socket gets the mode; a symbolic link put in
// its place (to a file of ours) is refused and the file keeps its mode;
// so is a plain file, and (as root) a socket of another uid.
func TestChmodSocket(t *testing.T) {
	dir := t.TempDir()
	sock, target, link := filepath.Join(dir, "s.sock"), filepath.Join(dir, "secret"), filepath.Join(dir, "l.sock")
	l, _ := unix.Socket(unix.AF_UNIX, unix.SOCK_SEQPACKET, 0)
	defer unix.Close(l)
	if err := unix.Bind(l, &unix.SockaddrUnix{Name: sock}); err != nil {
		t.Fatal(err)
	}
	if err := ChmodSocket(sock, 0o640); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(sock); err != nil || fi.Mode().Perm() != 0o640 {
		t.Fatalf("socket: %v %v", fi.Mode(), err)
	}
	os.WriteFile(target, nil, 0o600)
	os.Symlink(target, link)
	for path, want := range map[string]error{link: syscall.ENOTSOCK, target: syscall.ENOTSOCK, dir + "/none": syscall.ENOENT} {
		if err := ChmodSocket(path, 0o666); !errors.Is(err, want) {
			t.Errorf("%s: %v, want %v", path, err, want)
		}
	}
	if fi, _ := os.Stat(target); fi.Mode().Perm() != 0o600 {
		t.Fatalf("the link's target became %v", fi.Mode())
	}
	if os.Getuid() == 0 {
		os.Lchown(sock, 23456, 23456)
		if err := ChmodSocket(sock, 0o666); !errors.Is(err, syscall.EPERM) {
			t.Errorf("a socket of another uid: %v", err)
		}
	}
}
