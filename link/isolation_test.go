package link

import (
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// TestEachProcessItsOwnArena: two client processes of one uid get two
// arenas (two memfds); when one process leaves, its arena and its
// liveness page are unmapped and closed: the server's mappings and
// descriptors are back where they were.
func TestEachProcessItsOwnArena(t *testing.T) {
	s, dir := serve(t, Options{})
	c := dial(t, dir)
	callOK(t, c, 1)
	var st unix.Stat_t
	if err := unix.Fstat(c.cur.seg.seg.Fd(), &st); err != nil {
		t.Fatal(err)
	}
	maps, fds := mapsLines(t), memfdFDs()
	_, lines, stdin := childEnv(t, "arena", nil, "", "LINK_DIR="+dir)
	theirs := expectLine(t, lines, "ARENA")
	if ours := strconv.FormatUint(st.Dev, 10) + " " + strconv.FormatUint(st.Ino, 10); theirs == ours {
		t.Fatalf("both processes got arena %s", ours)
	}
	waitProcs(t, s, 2)
	if st := s.Stats(); st.Arenas != 2 {
		t.Fatalf("two processes attached, %d arenas open", st.Arenas)
	}
	stdin.Close()
	waitProcs(t, s, 1)
	// Its arena went: no arena is made ahead for a next process. The
	// count drops just after the unmap and close (arena.close), so all
	// three are waited for together.
	gone := func() bool { return mapsLines(t) == maps && memfdFDs() == fds && s.Stats().Arenas == 1 }
	if !waitFor(5*time.Second, gone) {
		t.Fatalf("after the process left: %d memfd mappings (%d before), %d memfd descriptors (%d before), %d arenas open (want 1)",
			mapsLines(t), maps, memfdFDs(), fds, s.Stats().Arenas)
	}
	callOK(t, c, 2)
}

// TestScribblerHurtsOnlyItself: a process of the server's uid writes
// random bytes over every byte of the arena it can map — the segment's
// header, the arena's, the doorbells, every slot — and calls on its own
// connections in between, while this process calls on four connections:
// every one of this process's calls gets its own correct response, and
// only the scribbler's connections break (it counts them).
func TestScribblerHurtsOnlyItself(t *testing.T) {
	s, dir := serve(t, Options{Logf: func(string, ...any) {}})
	conns := make([]*Conn[req, resp], 4)
	for i := range conns {
		conns[i] = dial(t, dir)
	}
	_, lines, _ := childEnv(t, "scribble", nil, "", "LINK_DIR="+dir, "LINK_N=100")
	var stop atomic.Bool
	var wg sync.WaitGroup
	var calls, bad atomic.Int64
	for i, c := range conns {
		wg.Go(func() {
			for k := int64(0); !stop.Load(); k++ {
				var r resp
				err := c.Call(time.Now().Add(10*time.Second), &req{A: int64(i), B: k, Seq: uint64(k)}, &r)
				if err != nil || r.Sum != int64(i)+k || r.Seq != uint64(k) {
					bad.Add(1)
					t.Errorf("conn %d call %d: %v %+v", i, k, err, r)
					return
				}
				calls.Add(1)
			}
		})
	}
	done := expectLineOrEnd(lines, "DONE")
	stop.Store(true)
	wg.Wait()
	f := strings.Fields(done)
	if len(f) != 2 {
		t.Fatalf("the scribbler said %q", done)
	}
	if corrupt, _ := strconv.Atoi(f[0]); corrupt == 0 {
		t.Errorf("the scribbler's own Conns found no corruption (%s)", done)
	}
	if bad.Load() != 0 || calls.Load() == 0 {
		t.Fatalf("%d calls, %d wrong", calls.Load(), bad.Load())
	}
	for i, c := range conns {
		if st := c.Stats(); st.Corrupt+st.Redials != 0 {
			t.Errorf("conn %d: %+v", i, st)
		}
	}
	honestDials(t, dir, "t", 3)
	t.Logf("%d calls; scribbler: corrupt, redials %s; server %+v", calls.Load(), done, s.Stats())
}

// TestServerRewritesArenaHeader: a process that scribbles over the headers
// of its own arena breaks no later set-up: the server rewrites them at the
// next attach.
func TestServerRewritesArenaHeader(t *testing.T) {
	_, dir := serve(t, Options{})
	c := dial(t, dir)
	mem := c.cur.seg.seg.Bytes()
	n := len(mem) - len(c.cur.seg.seg.Body()) + arenaHeaderLength
	want := append([]byte(nil), mem[:n]...)
	for i := range n {
		mem[i] = 0xa5
	}
	callOK(t, dial(t, dir), 1)
	if string(mem[:n]) != string(want) {
		t.Fatal("the header was not rewritten at the next attach")
	}
}

// TestLateReleaseGrace: what a departed client process leaves (its
// liveness page here) is released only once every poller that was
// running when it was added has begun two more sweeps; pollers stopped,
// or started after it was added, do not hold it back.
func TestLateReleaseGrace(t *testing.T) {
	mem, err := unix.Mmap(-1, 0, livePage, unix.PROT_READ, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		t.Fatal(err)
	}
	var ps [3]pollerState
	ps[0].running.Store(true)
	ps[0].sweeps.Store(10)
	ps[1].sweeps.Store(3) // stopped: never sweeps again
	var r lateRelease
	r.add(&lateRelease{pages: []*peerPage{{mem: mem}}}, []*pollerState{&ps[0], &ps[1]})
	ps[2].running.Store(true) // started after the add
	all := []*pollerState{&ps[0], &ps[1], &ps[2]}
	for _, sweeps := range []uint64{10, 11} {
		ps[0].sweeps.Store(sweeps)
		if r.retry(all); !r.pending() {
			t.Fatalf("released after %d of poller 0's sweeps since the add", sweeps-10)
		}
	}
	ps[0].sweeps.Store(12)
	if r.retry(all); r.pending() {
		t.Fatal("not released after two sweeps of every running poller")
	}
	var vec [1]byte // mincore(2) fails with ENOMEM on an address not mapped
	if _, _, e := unix.Syscall(unix.SYS_MINCORE, uintptr(unsafe.Pointer(&mem[0])), livePage, uintptr(unsafe.Pointer(&vec[0]))); e != unix.ENOMEM {
		t.Fatalf("the page is still mapped (mincore: %v)", e)
	}
}
