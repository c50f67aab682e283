package link

import (
	"strconv"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// residentConns reports which of the first conns connections' slots lie on
// a page the memfd holds, leaving out those that share a page with the
// arena's header and doorbells (allocated by the server at Listen).
// mincore on a shared mapping reports the page cache: whether the page
// exists, whoever touched it.
func residentConns(t *testing.T, c *Conn[req, resp], g arenaGeometry, conns int) map[int]bool {
	t.Helper()
	m := mincoreArena(t, c, g)
	out := map[int]bool{}
	for i := range conns {
		for k := range g.depth {
			if m.resident(g.slotOff(i, k), g.stride) {
				out[i] = true
			}
		}
	}
	return out
}

// arenaPages is which pages of an arena mapping exist (mincore).
type arenaPages struct {
	vec       []byte
	base, lo  uintptr
	ps        uintptr
	headerEnd uintptr // the last page holding the header and doorbells
}

func mincoreArena(t *testing.T, c *Conn[req, resp], g arenaGeometry) arenaPages {
	t.Helper()
	body := c.cur.seg.seg.Body()
	m := arenaPages{ps: uintptr(unix.Getpagesize()), base: uintptr(unsafe.Pointer(&body[0]))}
	m.lo = m.base &^ (m.ps - 1)
	hi := m.base + uintptr(g.length)
	m.vec = make([]byte, (hi-m.lo+m.ps-1)/m.ps)
	if _, _, e := unix.Syscall(unix.SYS_MINCORE, m.lo, hi-m.lo, uintptr(unsafe.Pointer(&m.vec[0]))); e != 0 {
		t.Fatal("mincore:", e)
	}
	m.headerEnd = (m.base + uintptr(g.slotsOff) - 1 - m.lo) / m.ps
	return m
}

// resident reports whether a page of the n body bytes at off exists,
// leaving out the pages the header shares.
func (m arenaPages) resident(off, n int) bool {
	first := max((m.base+uintptr(off)-m.lo)/m.ps, m.headerEnd+1)
	for p := first; p <= (m.base+uintptr(off+n)-1-m.lo)/m.ps; p++ {
		if m.vec[p]&1 != 0 {
			return true
		}
	}
	return false
}

// residentRows reports, for each slot index k, whether a page of the k-th
// row of slots (slot k of every connection) exists, leaving out the pages
// the arena's header shares.
func residentRows(t *testing.T, c *Conn[req, resp], g arenaGeometry) map[int]bool {
	t.Helper()
	m := mincoreArena(t, c, g)
	out := map[int]bool{}
	for k := range g.depth {
		if m.resident(g.slotOff(0, k), g.step) {
			out[k] = true
		}
	}
	return out
}

// An attached, idle connection allocates none of its arena pages: the
// initial ring state is the memfd's zeroes, and neither side writes a ring
// before it carries a message. A slot that was used is reset when it is
// taken again, and works. With MaxConns 64 the slots start on a page
// boundary; with 2048 (a larger doorbell bitmap) they straddle pages.
func TestIdleConnsAllocateNoArenaPages(t *testing.T) {
	for _, maxConns := range []int{64, 2048} {
		t.Run(strconv.Itoa(maxConns), func(t *testing.T) { testIdleConns(t, maxConns) })
	}
}

func testIdleConns(t *testing.T, maxConns int) {
	const n = 64
	s, dir := serve(t, Options{MaxConns: maxConns})
	g := s.g
	conns := make([]*Conn[req, resp], n)
	for i := range conns {
		conns[i] = dial(t, dir)
	}
	if r := residentConns(t, conns[0], g, n); len(r) != 0 {
		t.Fatalf("%d idle connections: the pages of %v are allocated", n, r)
	}
	// Idle connections that leave and are replaced (their slots reused)
	// allocate none either.
	for i := 1; i <= 8; i++ {
		conns[i].Close()
	}
	waitConns(t, s, n-8)
	for i := 1; i <= 8; i++ {
		conns[i] = dial(t, dir)
	}
	if r := residentConns(t, conns[0], g, n); len(r) != 0 {
		t.Fatalf("idle connections replaced: the pages of %v are allocated", r)
	}
	checkSlotRows(t, conns, g)
	// Leave connection 0 with a request outstanding, close it, and take its
	// slot again: the new connection must start from a reset ring.
	if _, err := conns[0].Send(&req{A: 5}); err != nil {
		t.Fatal(err)
	}
	conns[0].Close()
	waitConns(t, s, n-1)
	c := dial(t, dir)
	body := c.cur.seg.seg.Body()
	if idx := (uintptr(c.cur.ring.base) - uintptr(unsafe.Pointer(&body[g.slotsOff]))) / uintptr(g.stride); idx != 0 {
		t.Fatalf("redial took slot %d, want the freed 0", idx)
	}
	for k := range int64(10) {
		callOK(t, c, k)
	}
}

// checkSlotRows: calls one at a time use the first slot only (the jump,
// callring.go), so the pages of the other slots stay holes, though the
// server checked for a request behind each call; pipelined calls use the
// other slots too.
func checkSlotRows(t *testing.T, conns []*Conn[req, resp], g arenaGeometry) {
	t.Helper()
	used := len(conns) / 2
	for k := range int64(5) {
		callOK(t, conns[0], k)
		callOK(t, conns[used], k)
	}
	if rows := residentRows(t, conns[0], g); rows[1] || rows[2] || rows[3] {
		t.Fatalf("after calls one at a time on connections 0 and %d: rows of slots with pages: %v", used, rows)
	}
	if r := residentConns(t, conns[0], g, len(conns)); len(r) > 2*unix.Getpagesize()/g.stride {
		t.Fatalf("after calls on connections 0 and %d: the pages of %v are allocated", used, r)
	}
	for range 3 {
		if _, err := conns[used].Send(&req{A: 1}); err != nil {
			t.Fatal(err)
		}
	}
	for got := 0; got < 3; {
		n, err := conns[used].Poll(0, func(uint64, *resp) {})
		if err != nil {
			t.Fatal(err)
		}
		got += n
	}
	if rows := residentRows(t, conns[0], g); !rows[1] || !rows[2] {
		t.Fatalf("after three calls in flight: rows of slots with pages: %v", rows)
	}
}

// waitConns waits until s has want connections attached.
func waitConns(t *testing.T, s *Server[req, resp], want int) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); s.Stats().Conns != want; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d connections attached, want %d", s.Stats().Conns, want)
		}
	}
}

// callOK calls c with A = a, B = 1 and fails the test unless the sum comes back.
func callOK(t *testing.T, c *Conn[req, resp], a int64) {
	t.Helper()
	var r resp
	if err := c.Call(time.Now().Add(5*time.Second), &req{A: a, B: 1}, &r); err != nil || r.Sum != a+1 {
		t.Fatalf("call: %v %+v", err, r)
	}
}
