package stat

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/spinwire/spinwire/link"
	"golang.org/x/sys/unix"
)

// scanEnv makes the test binary a child that prints what ScanShared finds
// in the directory it names: the endpoints' names, or "none".
const scanEnv = "STAT_TEST_SCAN_SHARED"

func scanChild(dir string) int {
	ps, err := ScanShared(dir)
	if err != nil {
		os.Stdout.WriteString("error " + err.Error() + "\n")
		return 1
	}
	var names []string
	for _, p := range ps {
		if p.Err != nil {
			names = append(names, "corrupt")
		}
		for _, e := range p.Endpoints {
			names = append(names, e.Name)
		}
	}
	if len(names) == 0 {
		names = append(names, "none")
	}
	os.Stdout.WriteString(strings.Join(names, ",") + "\n")
	return 0
}

// shareDirFor makes a share directory as DefaultShareDir would be.
func shareDirFor(t *testing.T) string {
	dir := filepath.Join(t.TempDir(), "share")
	os.Chmod(filepath.Dir(dir), 0o755)
	os.Chmod(filepath.Dir(filepath.Dir(dir)), 0o755)
	return dir
}

// TestShareSameUID: a registry that shares is read through its socket by
// a reader its policy admits, and refused to one it does not (here, its
// own uid with DenySameUID); a socket nobody listens on is skipped, and
// Close removes the socket.
func TestShareSameUID(t *testing.T) {
	sdir := shareDirFor(t)
	for _, deny := range []bool{false, true} {
		reg, err := NewRegistry(Options{Dir: t.TempDir(), Interval: time.Hour, ShareDir: sdir,
			Share: link.Policy{UIDs: []uint32{12345}, DenySameUID: deny}})
		if err != nil {
			t.Fatal(err)
		}
		e, _ := reg.Register(KindCustom, "shared", "t", 1, nil)
		e.Set(0, 7)
		ps, err := scanShared(sdir, -1)
		if err != nil {
			t.Fatal(err)
		}
		if deny != (len(ps) == 0) {
			t.Fatalf("deny %v: %+v", deny, ps)
		}
		if !deny && (ps[0].Err != nil || len(ps[0].Endpoints) != 1 || ps[0].Endpoints[0].Counters[0] != 7) {
			t.Fatalf("shared: %+v", ps[0])
		}
		// What a reader gets cannot be written through (layout.SealWrites).
		if fd, _, err := fetchShared(reg.sharer.path); !deny && fd >= 0 {
			seals, err := unix.FcntlInt(uintptr(fd), unix.F_GET_SEALS, 0)
			unix.Close(fd)
			if err != nil || seals&unix.F_SEAL_FUTURE_WRITE == 0 {
				t.Fatalf("the shared segment's seals: %#x, %v", seals, err)
			}
		} else if !deny {
			t.Fatalf("fetch: %d, %v", fd, err)
		}
		if own, _ := ScanShared(sdir); len(own) != 0 {
			t.Fatalf("ScanShared read this uid's own: %+v", own)
		}
		reg.Close()
	}
	fi, err := os.Stat(sdir)
	if err != nil || fi.Mode()&os.ModeSticky == 0 || fi.Mode().Perm() != 0o777 {
		t.Fatalf("share directory: %v %v", fi.Mode(), err)
	}
	if ents, _ := os.ReadDir(sdir); len(ents) != 0 {
		t.Fatalf("sockets left: %v", ents)
	}
	// A socket whose registry is gone.
	l, _ := unix.Socket(unix.AF_UNIX, unix.SOCK_SEQPACKET, 0)
	unix.Bind(l, &unix.SockaddrUnix{Name: filepath.Join(sdir, "1.2.3.sock")})
	unix.Close(l)
	if ps, err := scanShared(sdir, -1); err != nil || len(ps) != 0 {
		t.Fatalf("stale socket: %+v %v", ps, err)
	}
}

// TestShareHostile: a socket in the share directory that answers with no
// descriptor, with one that is not a sealed segment, or not at all, is
// reported as an error; none stops the scan or panics.
func TestShareHostile(t *testing.T) {
	sdir := shareDirFor(t)
	if err := shareDir(sdir); err != nil {
		t.Fatal(err)
	}
	var pipe [2]int
	if err := unix.Pipe2(pipe[:], unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	defer unix.Close(pipe[0])
	defer unix.Close(pipe[1])
	uid := strconv.Itoa(os.Getuid()) // sockets named for the uid that serves them
	answers := map[string]func(fd int){
		uid + ".901.1.sock": func(fd int) { unix.Sendmsg(fd, []byte("hello"), nil, nil, 0) },                         // words
		uid + ".902.1.sock": func(fd int) { unix.Sendmsg(fd, []byte("SPINSTAT"), unix.UnixRights(pipe[0]), nil, 0) }, // a pipe
		uid + ".903.1.sock": func(fd int) { time.Sleep(300 * time.Millisecond) },                                     // mute
	}
	serveAnswers(t, sdir, answers)
	ps, err := scanShared(sdir, -1)
	if err != nil || len(ps) != 3 {
		t.Fatalf("%+v %v", ps, err)
	}
	for _, p := range ps {
		if p.Err == nil {
			t.Errorf("%s: no error", p.Name)
		}
	}
	if err := shareDir(filepath.Join(sdir, uid+".901.1.sock")); err == nil {
		t.Error("a socket taken for a share directory")
	}
}

// TestShareNames: a registry's socket under a name no registry makes -
// here with an escape sequence and a byte that is not UTF-8, which
// spinstat would print, and export as a Prometheus label (whose client
// refuses it, failing the scrape) - is not read.
func TestShareNames(t *testing.T) {
	sdir := shareDirFor(t)
	reg, err := NewRegistry(Options{Dir: t.TempDir(), Interval: time.Hour, ShareDir: sdir, Share: link.Policy{UIDs: []uint32{12345}}})
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	reg.Register(KindCustom, "shared", "t", 1, nil)
	if ps, err := scanShared(sdir, -1); err != nil || len(ps) != 1 || ps[0].Err != nil {
		t.Fatalf("under its own name: %+v %v", ps, err)
	}
	for _, name := range []string{".\x1b[2J\xff", ".1.x", ""} {
		bad := filepath.Join(sdir, strconv.Itoa(os.Getuid())+name+".sock")
		if err := os.Rename(reg.sharer.path, bad); err != nil {
			t.Fatal(err)
		}
		reg.sharer.path = bad // for Close
		if ps, err := scanShared(sdir, -1); err != nil || len(ps) != 0 {
			t.Fatalf("%q: read %+v %v", name, ps, err)
		}
	}
}

// serveAnswers listens on each socket name in dir and answers its first
// connection with its function.
func serveAnswers(t *testing.T, dir string, answers map[string]func(fd int)) {
	t.Helper()
	for name, answer := range answers {
		l, _ := unix.Socket(unix.AF_UNIX, unix.SOCK_SEQPACKET, 0)
		if err := unix.Bind(l, &unix.SockaddrUnix{Name: filepath.Join(dir, name)}); err != nil {
			t.Fatal(err)
		}
		unix.Listen(l, 4)
		go func() {
			defer unix.Close(l)
			fd, _, err := unix.Accept(l)
			if err == nil {
				answer(fd)
				unix.Close(fd)
			}
		}()
	}
}

// TestShareImpostor: anyone may make a socket in the share directory. A
// registry served on a socket named for another uid than the one serving
// it, or serving a segment that names another process, is read with Err
// set (ErrCorrupt), and its endpoints are not listed as that uid's.
func TestShareImpostor(t *testing.T) {
	sdir := shareDirFor(t)
	if err := shareDir(sdir); err != nil {
		t.Fatal(err)
	}
	reg, err := NewRegistry(Options{Dir: t.TempDir(), Interval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	reg.Register(KindCustom, "forged", "t", 1, nil)
	send := func(fd int) { unix.Sendmsg(fd, []byte("SPINSTAT"), unix.UnixRights(reg.seg.Fd()), nil, 0) }
	named := filepath.Join(sdir, "12345.901.1.sock")
	serveAnswers(t, sdir, map[string]func(int){"12345.901.1.sock": send})
	if ps, err := scanShared(sdir, -1); err != nil || len(ps) != 0 {
		t.Fatalf("a socket file of this uid named for uid 12345 was read: %+v %v", ps, err)
	}
	if os.Getuid() == 0 { // a socket file given to uid 12345, served by root
		os.Lchown(named, 12345, 12345)
		ps, err := scanShared(sdir, -1)
		if err != nil || len(ps) != 1 || !errors.Is(ps[0].Err, ErrCorrupt) ||
			!strings.Contains(ps[0].Err.Error(), "named for uid 12345") || len(ps[0].Endpoints) != 0 {
			t.Fatalf("a socket named for uid 12345: %+v %v", ps, err)
		}
	}
	os.Remove(named)
	store32(reg.mem, offPID, 1) // a segment that names pid 1
	serveAnswers(t, sdir, map[string]func(int){strconv.Itoa(os.Getuid()) + ".902.1.sock": send})
	ps, err := scanShared(sdir, -1)
	if err != nil || len(ps) != 1 || !errors.Is(ps[0].Err, ErrCorrupt) || !strings.Contains(ps[0].Err.Error(), "names pid 1 ") || len(ps[0].Endpoints) != 0 {
		t.Fatalf("a segment naming pid 1: %+v %v", ps, err)
	}
}

// TestShareSlowUID: the sockets of one uid that do not answer keep a scan
// waiting shareUIDBudget in all; that uid's other sockets are counted,
// not read.
func TestShareSlowUID(t *testing.T) {
	sdir := shareDirFor(t)
	if err := shareDir(sdir); err != nil {
		t.Fatal(err)
	}
	uid := strconv.Itoa(os.Getuid())
	mute := func(int) { time.Sleep(2 * shareTimeout) }
	answers := map[string]func(int){}
	for i := range 5 {
		answers[uid+".903."+strconv.Itoa(i)+".sock"] = mute
	}
	serveAnswers(t, sdir, answers)
	ps, err := scanShared(sdir, -1)
	if err != nil || len(ps) != 4 { // 3 × shareTimeout reach the budget
		t.Fatalf("%d processes: %+v %v", len(ps), ps, err)
	}
	if first := ps[0]; first.Name != uid+".*" || !errors.Is(first.Err, ErrSlow) || !strings.Contains(first.Err.Error(), "2 sockets") {
		t.Fatalf("the unread (sorted first): %+v", first)
	}
}

// TestShareOtherUID: a registry shared with uid 12345 is read by a
// process of that uid and refused to one of uid 23456. Root only.
func TestShareOtherUID(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root: starts readers under other uids")
	}
	sdir := shareDirFor(t)
	reg, err := NewRegistry(Options{Dir: t.TempDir(), Interval: time.Hour, ShareDir: sdir,
		Share: link.Policy{UIDs: []uint32{12345}}})
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	reg.Register(KindCustom, "visible", "t", 1, nil)
	bin := filepath.Join(filepath.Dir(sdir), "stat.test")
	data, _ := os.ReadFile(os.Args[0])
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	for uid, want := range map[uint32]string{12345: "visible", 23456: "none"} {
		cmd := exec.Command(bin)
		cmd.Env = append(os.Environ(), scanEnv+"="+sdir)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: uid}}
		out, err := cmd.Output()
		if got := strings.TrimSpace(string(out)); err != nil || got != want {
			t.Errorf("uid %d: %q %v, want %q", uid, got, err, want)
		}
	}
}
