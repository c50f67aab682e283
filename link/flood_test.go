package link

import (
	"bytes"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/spinwire/spinwire/internal/proc"
)

// mapsLines counts the shared-memory mappings of this process, where the
// server in the test runs: the lines of /proc/self/maps that map a memfd
// (arenas, liveness pages — whatever a peer could make it map).
func mapsLines(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Count(b, []byte("/memfd:"))
}

// memfdFDs counts this process's descriptors of memfds.
func memfdFDs() int {
	n := 0
	for _, name := range fdNames() {
		if strings.HasPrefix(name, "/memfd:") {
			n++
		}
	}
	return n
}

var nameSeq atomic.Int32

// uniqueName is a server name no other test or process uses (tests in a
// shared directory).
func uniqueName() string {
	return "lt" + strconv.Itoa(os.Getpid()) + "-" + strconv.Itoa(int(nameSeq.Add(1)))
}

// honestDials dials n times and calls once on each; it fails the test on
// any error. The Conns stay open (closed with the test), so that nothing
// leaves the server while a flood runs: a page or arena that waits for
// some connection to leave would stay.
func honestDials(t *testing.T, dir, name string, n int) {
	t.Helper()
	for i := range int64(n) {
		c, err := Dial[req, resp](name, DialOptions{Dir: dir, SetupTimeout: 10 * time.Second})
		if err != nil {
			t.Fatalf("honest dial %d: %v", i, err)
		}
		t.Cleanup(func() { c.Close() })
		var r resp
		if err := c.Call(time.Now().Add(10*time.Second), &req{A: i, B: 1}, &r); err != nil || r.Sum != i+1 {
			t.Fatalf("honest call %d: %v %+v", i, err, r)
		}
	}
}

// waitProcs waits until s has want client processes attached.
func waitProcs(t *testing.T, s *Server[req, resp], want int) {
	t.Helper()
	if !waitFor(10*time.Second, func() bool { return s.Stats().Procs == want }) {
		t.Fatalf("%d client processes attached, want %d (%+v)", s.Stats().Procs, want, s.Stats())
	}
}

// floodAndDial runs child role (with LINK_N n) against s while this
// process dials honestly, and checks that every honest dial succeeded and
// that the server's mappings did not grow with the flood — with nothing
// leaving meanwhile. It returns the rest of the child's line with prefix.
func floodAndDial(t *testing.T, s *Server[req, resp], dir, name, role, prefix string, n int, attr *syscall.SysProcAttr, bin string) string {
	t.Helper()
	keep := dialNamed(t, dir, name) // this process's arena and pages, mapped before counting
	callOK(t, keep, 1)
	maps := mapsLines(t)
	_, lines, stdin := childEnv(t, role, attr, bin, "LINK_DIR="+dir, "LINK_NAME="+name, "LINK_N="+strconv.Itoa(n))
	got := make(chan string, 1)
	go func() { got <- expectLineOrEnd(lines, prefix) }()
	rounds, result := 0, ""
	for ; result == ""; rounds++ {
		wait := time.Duration(0) // dial while the flood runs, 500 Conns at most
		if rounds < 100 {
			honestDials(t, dir, name, 5)
		} else {
			wait = time.Second
		}
		select {
		case result = <-got:
			if result == "" {
				t.Fatalf("the %s child ended without %q", role, prefix)
			}
		case <-time.After(wait):
		}
	}
	honestDials(t, dir, name, 5)
	if d := mapsLines(t) - maps; d > 4 {
		t.Errorf("the server's mappings grew by %d during the %s flood", d, role)
	}
	stdin.Close()
	waitProcs(t, s, 1)
	t.Logf("%s: %s; %d rounds of honest dials; %+v", role, result, rounds, s.Stats())
	return result
}

// expectLineOrEnd returns the rest of the first line with prefix, or ""
// when lines end or nothing comes within 60 s.
func expectLineOrEnd(lines <-chan string, prefix string) string {
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				return ""
			}
			if after, ok0 := strings.CutPrefix(l, prefix); ok0 {
				return strings.TrimSpace(after)
			}
		case <-time.After(60 * time.Second):
			return ""
		}
	}
}

func dialNamed(t *testing.T, dir, name string) *Conn[req, resp] {
	t.Helper()
	c, err := Dial[req, resp](name, DialOptions{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestHelloFloodMapsNothing: a process of the server's own uid sends
// thousands of hellos of a wrong version, each carrying the same valid
// sealed liveness page, closing each connection at once. The server
// refuses each for its version before it looks at the page: its mappings
// do not grow, and honest clients dial and call throughout.
func TestHelloFloodMapsNothing(t *testing.T) {
	s, dir := serve(t, Options{Logf: func(string, ...any) {}})
	got := floodAndDial(t, s, dir, "t", "flood", "DONE", 3000, nil, "")
	// Refused for their version, or at the accept while the process had
	// maxPendingPerProc set-ups pending.
	st := s.Stats()
	if sent, _ := strconv.Atoi(got); sent < 1000 || st.RefusedVersion+st.RefusedBusy < uint64(sent)*9/10 {
		t.Fatalf("sent %s hellos; %+v", got, st)
	}
}

// TestSilentFloodFromAnotherProcess: a process opens 1100 connections and
// never says hello. At most maxPendingPerProc of them wait for their
// hello; the rest are refused at the accept, and honest clients of other
// processes dial and call throughout.
func TestSilentFloodFromAnotherProcess(t *testing.T) {
	s, dir := serve(t, Options{Logf: func(string, ...any) {}})
	got := floodAndDial(t, s, dir, "t", "silent", "HELD", 1100, nil, "")
	if held, _ := strconv.Atoi(got); held != 1100 || s.Stats().RefusedBusy < 1100-maxPendingPerProc {
		t.Fatalf("held %s connections; %+v", got, s.Stats())
	}
}

// TestOnePagePerProcess: valid hellos from one process, each carrying a
// different sealed page, attach — and the server maps one page for the
// process, not one per hello.
func TestOnePagePerProcess(t *testing.T) {
	s, dir := serve(t, Options{})
	keep := dial(t, dir)
	callOK(t, keep, 1)
	maps := mapsLines(t)
	var fds []int
	defer func() { closeFds(fds) }()
	for range 200 {
		page := newOwnerPage("page")
		if page == nil {
			t.Skip("no sealed memfd here")
		}
		fd, err := rawConnect(dir, "t")
		if err != nil {
			t.Fatal(err)
		}
		fds = append(fds, fd)
		err = sendMsg(fd, helloFor(wireVersion), page.fd)
		page.close()
		if err != nil {
			t.Fatal(err)
		}
		if w := readWelcomeT(t, fd); w.status != statusOK {
			t.Fatalf("welcome %+v", w)
		}
	}
	if st := s.Stats(); st.Conns != 201 || st.Procs != 1 {
		t.Fatalf("stats %+v", st)
	}
	if d := mapsLines(t) - maps; d > 2 {
		t.Fatalf("200 hellos with 200 pages from one process: %d more mappings", d)
	}
}

// readWelcomeT reads a welcome on fd, closing the fds that came with it.
func readWelcomeT(t *testing.T, fd int) *welcome {
	t.Helper()
	var fds [maxFds]int
	w, err := readWelcome(fd, &fds)
	closeFds(fds[:])
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// TestProcStart: the start time of this process as another process reads
// it (proc.Stat has the parser's cases), without allocating; none for pid
// 0 or below.
func TestProcStart(t *testing.T) {
	b, err := exec.Command("cat", "/proc/"+strconv.Itoa(os.Getpid())+"/stat").Output()
	if err != nil {
		t.Skip(err)
	}
	_, want, ok := proc.ParseStat(b)
	var buf [proc.StatLength]byte
	if got := procStart(int32(os.Getpid()), &buf); !ok || got != want || want == 0 {
		t.Fatalf("procStart = %d, want %d", got, want)
	}
	if n := testing.AllocsPerRun(10, func() { procStart(int32(os.Getpid()), &buf) }); n != 0 {
		t.Errorf("procStart: %v allocations", n)
	}
	if procStart(0, &buf) != 0 || procStart(-1, &buf) != 0 {
		t.Error("procStart of no process")
	}
}

// TestDialBurst: a process that dials hundreds of connections at once — as
// its Conns do when a restarted server comes back — gets them all: a
// connection whose hello is there at the accept is set up at once and
// never counts against the process's pending limit, and a refusal for that
// limit makes Dial try again.
func TestDialBurst(t *testing.T) {
	// The server's set-up timeout as long as the clients': the test is of
	// the pending limit, and a loaded host (make arm64: every package's
	// tests at once under an emulator) took over the default 1 s to send
	// one of hundreds of hellos.
	s, dir := serve(t, Options{Logf: func(string, ...any) {}, SetupTimeout: 20 * time.Second})
	const n = 3 * maxPendingPerProc
	errs := make(chan error, n)
	for range n {
		go func() {
			c, err := Dial[req, resp]("t", DialOptions{Dir: dir, SetupTimeout: 20 * time.Second})
			if err == nil {
				t.Cleanup(func() { c.Close() })
			}
			errs <- err
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if st := s.Stats(); st.Conns != n {
		t.Fatalf("stats %+v", st)
	}
	t.Logf("%+v", s.Stats())
}
