package link

import (
	"errors"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/spinwire/spinwire/layout"
	"golang.org/x/sys/unix"
)

// waitFor polls cond every 100 µs for up to d.
func waitFor(d time.Duration, cond func() bool) bool {
	for end := time.Now().Add(d); !cond(); {
		if time.Now().After(end) {
			return false
		}
		time.Sleep(100 * time.Microsecond)
	}
	return true
}

// dupFd gives the client side its own fd to the server's page, as
// SCM_RIGHTS would.
func dupFd(t *testing.T, fd int) int {
	t.Helper()
	d, err := unix.Dup(fd)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestLivenessOwnDisown: while a thread owns the page every word holds its
// TID with FUTEX_WAITERS; disown leaves 0 ("no poller"), which clients do
// not take for a death.
func TestLivenessOwnDisown(t *testing.T) {
	l := newOwnerPage("test-liveness")
	if l == nil {
		t.Skip("no sealed memfd here: the socket alone tells")
	}
	defer l.close()
	c, err := mapLiveness(dupFd(t, l.fd))
	if err != nil {
		t.Fatal(err)
	}
	defer c.unref()
	done := make(chan int)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		l.own()
		done <- unix.Gettid()
		<-done
		l.disown()
		done <- 0
	}()
	tid := <-done
	if !l.owned {
		t.Skip("set_robust_list refused here")
	}
	for i := range liveWords {
		if v := atomic.LoadUint32(l.word(i)); v != uint32(tid)|futexWaiters {
			t.Fatalf("word %d = %#x while owned by %d", i, v, tid)
		}
	}
	if c.dead() {
		t.Fatal("dead while owned")
	}
	done <- 0
	<-done
	for i := range liveWords {
		if v := atomic.LoadUint32(l.word(i)); v != 0 {
			t.Fatalf("word %d = %#x after disown", i, v)
		}
	}
	if c.dead() {
		t.Fatal("dead after a clean disown")
	}
}

// TestLivenessKernelMarksDeath: a thread that owns the page and exits
// without disowning (as a SIGKILLed poller does) gets every word marked by
// the kernel, and the client's waiter ends the attachments watched with it
// while their sockets are still open.
func TestLivenessKernelMarksDeath(t *testing.T) {
	l := newOwnerPage("test-liveness")
	if l == nil {
		t.Skip("no sealed memfd here")
	}
	defer l.close()
	c, err := mapLiveness(dupFd(t, l.fd))
	if err != nil {
		t.Fatal(err)
	}
	// Two watched "attachments" on socketpairs that stay open.
	var flags [2]atomic.Bool
	var calls atomic.Int32
	for i := range flags {
		sp, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer unix.Close(sp[0])
		defer unix.Close(sp[1])
		if err := watchDeath(sp[0], &flags[i], func() { calls.Add(1) }, c); err != nil {
			t.Fatal(err)
		}
		defer unwatchDeath(sp[0])
	}
	// Go terminates a locked thread whose goroutine exits — except the
	// main thread, which it keeps: try until the goroutine is elsewhere.
	owned := make(chan int)
	for range 100 {
		go func() {
			runtime.LockOSThread() // never unlocked: the thread exits with the goroutine
			if unix.Gettid() == os.Getpid() {
				runtime.UnlockOSThread()
				owned <- 0
				return
			}
			l.own()
			if !l.owned {
				owned <- -1
				return
			}
			owned <- 1
		}()
		if r := <-owned; r == -1 {
			t.Skip("set_robust_list refused here")
		} else if r == 1 {
			break
		}
	}
	if !l.owned {
		t.Skip("every goroutine ran on the main thread")
	}
	if !waitFor(5*time.Second, c.dead) {
		t.Fatalf("word %#x: the kernel did not mark the owner's death", atomic.LoadUint32(c.word))
	}
	// The kernel marks the words one after another.
	for i := range liveWords {
		marked := func() bool {
			v := atomic.LoadUint32(l.word(i))
			return v&futexOwnerDie != 0 && v&^(futexOwnerDie|futexWaiters) == 0
		}
		if !waitFor(5*time.Second, marked) {
			t.Fatalf("word %d = %#x after the owner died", i, atomic.LoadUint32(l.word(i)))
		}
	}
	if !waitFor(5*time.Second, func() bool { return calls.Load() == 2 }) {
		t.Fatalf("%d of 2 attachments told", calls.Load())
	}
	for i := range flags {
		if !flags[i].Load() {
			t.Fatalf("attachment %d not flagged", i)
		}
	}
	c.unref() // stops the (already returned) waiter and unmaps
}

// TestLivenessUnrefStopsWaiter: the last unref wakes the waiter blocked on
// a live page and unmaps; a second mapping of the same page is shared.
func TestLivenessUnrefStopsWaiter(t *testing.T) {
	l := newOwnerPage("test-liveness")
	if l == nil {
		t.Skip("no sealed memfd here")
	}
	defer l.close()
	a, err := mapLiveness(dupFd(t, l.fd))
	if err != nil {
		t.Fatal(err)
	}
	b, err := mapLiveness(dupFd(t, l.fd))
	if err != nil {
		t.Fatal(err)
	}
	if a != b || a.refs != 2 {
		t.Fatalf("two mappings of one page: %p %p refs %d", a, b, a.refs)
	}
	time.Sleep(time.Millisecond) // let the waiter block
	a.unref()
	select {
	case <-a.done:
		t.Fatal("the waiter stopped while a reference remains")
	default:
	}
	done := make(chan struct{})
	go func() { b.unref(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("unref did not stop the waiter")
	}
}

// TestLivenessHostilePage: a page that is not a sealed 4 KiB memfd is
// refused (and its fd closed); a write-sealed page cannot be mapped
// writable by a client.
func TestLivenessHostilePage(t *testing.T) {
	mk := func(size int64, seals int) int {
		fd, err := unix.MemfdCreate("hostile", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
		if err != nil {
			t.Skip(err)
		}
		if err := unix.Ftruncate(fd, size); err != nil {
			t.Fatal(err)
		}
		if seals != 0 {
			if _, err := unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, seals); err != nil {
				t.Fatal(err)
			}
		}
		return fd
	}
	f, err := os.CreateTemp(t.TempDir(), "page")
	if err != nil {
		t.Fatal(err)
	}
	f.Truncate(livePage)
	plain, _ := unix.Dup(int(f.Fd()))
	f.Close()
	for name, fd := range map[string]int{
		"unsealed":   mk(livePage, 0),
		"too small":  mk(64, unix.F_SEAL_SHRINK|unix.F_SEAL_GROW),
		"too large":  mk(2*livePage, unix.F_SEAL_SHRINK|unix.F_SEAL_GROW),
		"plain file": plain,
	} {
		if _, err := mapLiveness(fd); !errors.Is(err, ErrProtocol) {
			t.Errorf("%s: %v", name, err)
		}
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err != unix.EBADF {
			t.Errorf("%s: fd left open", name)
		}
	}
	l := newOwnerPage("test-liveness")
	if l == nil {
		t.Skip("no sealed memfd here")
	}
	defer l.close()
	if m, err := unix.Mmap(l.fd, 0, livePage, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED); err == nil {
		unix.Munmap(m)
		t.Fatal("a client could map the liveness page writable")
	}
}

// TestConnSeesLivenessDeath: a Conn whose server's page says "died" turns
// Reconnecting and fails its calls with ErrPeerGone though its socket is
// still open.
func TestConnSeesLivenessDeath(t *testing.T) {
	s, dir := serve(t, Options{})
	c, err := Dial[req, resp]("t", DialOptions{Dir: dir, FailFast: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var r resp
	if err := c.Call(time.Now().Add(5*time.Second), &req{A: 1, B: 2}, &r); err != nil || r.Sum != 3 {
		t.Fatal(err, r)
	}
	if s.live == nil {
		t.Skip("no liveness page here")
	}
	// What the kernel does at the owner's death, done by hand.
	for i := range liveWords {
		atomic.StoreUint32(s.live.word(i), futexOwnerDie|futexWaiters)
		futex(s.live.word(i), futexWake, 1<<30, nil)
	}
	if !waitFor(5*time.Second, func() bool { return c.State() != Connected }) {
		t.Fatal("the Conn did not notice the page")
	}
	if err := c.Call(time.Now().Add(time.Second), &req{}, &r); !errors.Is(err, ErrPeerGone) {
		t.Fatalf("call after the page said died: %v", err)
	}
}

// TestServerSeesClientPage: when a client process's page says it died, the
// server frees that process's connections though their sockets are open.
func TestServerSeesClientPage(t *testing.T) {
	s, dir := serve(t, Options{})
	c := dial(t, dir)
	var r resp
	if err := c.Call(time.Now().Add(5*time.Second), &req{A: 1, B: 2}, &r); err != nil || r.Sum != 3 {
		t.Fatal(err, r)
	}
	p := death.page
	if p == nil || !p.owned || s.Stats().Conns != 1 {
		t.Skip("no client liveness page here")
	}
	owner := atomic.LoadUint32(p.word(0))
	// What the kernel does when the death watch's thread dies, by hand;
	// then back, for the tests after this one.
	p.setAll(futexOwnerDie)
	freed := waitFor(5*time.Second, func() bool { return s.Stats().Conns == 0 })
	p.setAll(owner)
	if !freed {
		t.Fatalf("the server kept the connection: %+v", s.Stats())
	}
	// The Conn sees its socket closed and comes back.
	if !waitFor(5*time.Second, func() bool {
		return c.Call(time.Now().Add(time.Second), &req{A: 2, B: 2}, &r) == nil && r.Sum == 4
	}) {
		t.Fatal("no reconnection after the server freed the connection")
	}
}

// TestHelloWithBadPage: a hello carrying a page that is not a sealed 4 KiB
// memfd is refused.
func TestHelloWithBadPage(t *testing.T) {
	_, dir := serve(t, Options{})
	sockPath, _, err := paths(dir, "t")
	if err != nil {
		t.Fatal(err)
	}
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if err := unix.Connect(fd, &unix.SockaddrUnix{Name: sockPath}); err != nil {
		t.Fatal(err)
	}
	bad, err := unix.MemfdCreate("bad", unix.MFD_CLOEXEC)
	if err != nil {
		t.Skip(err)
	}
	unix.Ftruncate(bad, livePage)
	defer unix.Close(bad)
	rs, ps := schemaOf[req](t), schemaOf[resp](t)
	h := hello{version: wireVersion, reqSize: uint32(rs.Size), respSize: uint32(ps.Size),
		reqFP: rs.Fingerprint, respFP: ps.Fingerprint, reqSchema: rs.Encode(), respSchem: ps.Encode()}
	if err := sendMsg(fd, h.encode(), bad); err != nil {
		t.Fatal(err)
	}
	setTimeouts(fd, 5*time.Second)
	buf := make([]byte, welcomeFixedLength+maxMessage)
	var fds [maxFds]int
	n, err := recvMsg(fd, buf, fds[:])
	closeFds(fds[:])
	if err != nil {
		t.Fatal(err)
	}
	w, err := decodeWelcome(buf[:n])
	if err != nil || w.status != statusBadHello || !strings.Contains(w.message, "liveness page") {
		t.Fatalf("welcome %+v, %v", w, err)
	}
}

func schemaOf[T any](t *testing.T) *layout.Schema {
	t.Helper()
	s, err := layout.Of[T]()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestLivenessKeepsBusyRobustList: a thread whose robust list holds an
// entry (a robust mutex C code locked) keeps it; the page is not owned.
func TestLivenessKeepsBusyRobustList(t *testing.T) {
	l := newOwnerPage("test-liveness")
	if l == nil {
		t.Skip("no sealed memfd here")
	}
	defer l.close()
	var head robustHead
	var entry uintptr
	res := make(chan bool)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		head.next = uintptr(unsafe.Pointer(&entry))
		entry = uintptr(unsafe.Pointer(&head))
		if _, _, e := unix.RawSyscall(unix.SYS_SET_ROBUST_LIST, uintptr(unsafe.Pointer(&head)), unsafe.Sizeof(head), 0); e != 0 {
			res <- true // no robust lists: nothing to check
			return
		}
		l.own()
		var cur, n uintptr
		unix.RawSyscall(unix.SYS_GET_ROBUST_LIST, 0, uintptr(unsafe.Pointer(&cur)), uintptr(unsafe.Pointer(&n)))
		unix.RawSyscall(unix.SYS_SET_ROBUST_LIST, 0, unsafe.Sizeof(head), 0)
		res <- !l.owned && cur == uintptr(unsafe.Pointer(&head))
	}()
	if !<-res {
		t.Fatal("own replaced a robust list that held an entry")
	}
}

// TestHelloWithUnmappablePage: a process whose hellos carry a page that
// passes every check but cannot be mapped (a sealed page, opened
// write-only) is refused at the mmap, after its domain was made; the
// domain goes back as the spare. 1100 such hellos (more than
// maxProcsPerUID) are each refused for the page, not for the uid's count;
// once that process has gone, this one dials with the same arena (no
// domain kept for the hostile one) and no mapping was added.
func TestHelloWithUnmappablePage(t *testing.T) {
	if page := newOwnerPage("probe"); page == nil {
		t.Skip("no sealed memfd here")
	} else {
		page.close()
	}
	s, dir := serve(t, Options{Logf: func(string, ...any) {}})
	maps, arenas := mapsLines(t), s.Stats().Arenas
	n := maxProcsPerUID + 76
	cmd, lines, stdin := childEnv(t, "unmappable", nil, "", "LINK_DIR="+dir, "LINK_NAME=t", "LINK_N="+strconv.Itoa(n))
	got := expectLine(t, lines, "DONE")
	stdin.Close()
	cmd.Wait()
	if want := strconv.Itoa(n) + " " + strconv.Itoa(n); got != want {
		t.Fatalf("child: %q connections and hellos refused for their page, want %q", got, want)
	}
	if st := s.Stats(); st.RefusedFull != uint64(n) || st.Procs != 0 {
		t.Fatalf("stats %+v", st)
	}
	if d := mapsLines(t) - maps; d != 0 {
		t.Fatalf("%d more mappings", d)
	}
	callOK(t, dial(t, dir), 7)
	if st := s.Stats(); st.Arenas != arenas {
		t.Fatalf("%d arenas made, %d before the hostile process", st.Arenas, arenas)
	}
}

// TestHelloSizesDisagree: a hello whose fingerprints match the server's
// types but whose sizes do not (no correct client sends one: the
// fingerprints cover the sizes) is refused as a bad hello.
func TestHelloSizesDisagree(t *testing.T) {
	_, dir := serve(t, Options{Logf: func(string, ...any) {}})
	rs, ps := schemaOf[req](t), schemaOf[resp](t)
	for name, h := range map[string]hello{
		"request size":  {version: wireVersion, reqSize: uint32(rs.Size) + 8, respSize: uint32(ps.Size), reqFP: rs.Fingerprint, respFP: ps.Fingerprint},
		"response size": {version: wireVersion, reqSize: uint32(rs.Size), respSize: uint32(ps.Size) - 8, reqFP: rs.Fingerprint, respFP: ps.Fingerprint},
	} {
		w, _, err := helloRound(dir, "t", h.encode())
		if err != nil {
			t.Fatal(err)
		}
		if w.status != statusBadHello || !strings.Contains(w.message, "disagree with the fingerprints") {
			t.Errorf("%s: welcome %+v", name, w)
		}
	}
}
