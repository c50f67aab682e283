package link

import (
	"math"
	"os"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/spinwire/spinwire/internal/msg"

	"golang.org/x/sys/unix"
)

// Liveness: how a client learns that its server died before the kernel has
// finished tearing the server down.
//
// The socket closes only when the last thread of a killed process has run
// do_exit and the process's files are closed; threads asleep when the
// SIGKILL came must first be scheduled, and on a busy or virtualised host
// that takes a millisecond or more. A thread that is running — a spinning
// poller — dies sooner. So poller 0's thread registers a robust futex list
// (set_robust_list(2)) whose entries point at the owner words of a liveness
// page; the kernel walks that list early in the thread's exit (before it
// unmaps the process or closes its files), turns each word into
// FUTEX_OWNER_DIED and wakes one waiter on each. A client process waits on
// word pid mod liveWords, so the kernel itself wakes every client process
// (up to liveWords of them; processes sharing a word are woken by the first
// of them). The socket stays the authority (it also catches a server whose
// pollers sleep); the page only makes the news arrive sooner.
//
// The page is one 4 KiB memfd per Server, mapped read-write by the server
// and read-only by clients: it is sealed F_SEAL_FUTURE_WRITE after the
// server maps it (no one else can map it writable or write(2) it), and
// SHRINK|GROW (no one can make a reader fault). Layout:
//
//	0        word 0   u32, then 4 bytes of padding
//	8        word 1
//	…
//	8·(liveWords−1)   the last word; reserved to the end of the page
//
// Every word holds the same: TID of poller 0's thread | FUTEX_WAITERS while
// it runs; 0 while no poller runs (not yet, or Serve returned);
// FUTEX_OWNER_DIED (| FUTEX_WAITERS) once the kernel has seen that thread
// die. The words are 8 bytes apart because the robust list's entries — in
// the server's private memory, where no client can rewrite them — are 8
// bytes apart, and the kernel finds each word at one fixed offset from its
// entry.
//
// A client treats the page as hostile like everything else: it checks the
// size and the seals before it maps it, reads only its word, and acts only
// on the FUTEX_OWNER_DIED bit — the worst a lying server can do is make its
// own clients reconnect.
const (
	livePage      = 4096
	liveWords     = 64 // the kernel walks them all at the owner's death
	futexWaiters  = 0x80000000
	futexOwnerDie = 0x40000000

	futexWait    = 0 // FUTEX_WAIT without futexPrivate: the word is shared
	futexWake    = 1
	futexPrivate = 128
)

// robustHead is the kernel's struct robust_list_head.
type robustHead struct {
	next    uintptr // → the first entry
	offset  int64   // word address − entry address, for every entry
	pending uintptr // list_op_pending: unused
}

// ownerPage is the owning side of a liveness page: the page and the robust
// list — a Server's (owned by poller 0's thread), or a client process's
// (owned by its death watch's thread). It is heap-allocated and lives as
// long as its owner (the Go heap does not move objects), so the kernel's
// list pointers stay valid.
type ownerPage struct {
	fd      int
	mem     []byte
	head    robustHead
	entries [liveWords]uintptr // struct robust_list each: next → the next, the last → head
	owned   bool               // set_robust_list succeeded on the owning thread
}

// newOwnerPage makes the page. On a kernel without the seals it
// returns nil: clients then rely on the socket alone.
func newOwnerPage(name string) *ownerPage {
	fd, err := unix.MemfdCreate(name, unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return nil
	}
	l := &ownerPage{fd: fd}
	if unix.Ftruncate(fd, livePage) != nil {
		unix.Close(fd)
		return nil
	}
	if l.mem, err = unix.Mmap(fd, 0, livePage, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED); err != nil {
		unix.Close(fd)
		return nil
	}
	seals := unix.F_SEAL_SHRINK | unix.F_SEAL_GROW | unix.F_SEAL_FUTURE_WRITE | unix.F_SEAL_SEAL
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, seals); err != nil {
		l.close()
		return nil
	}
	return l
}

func (l *ownerPage) word(i int) *uint32 { return (*uint32)(unsafe.Pointer(&l.mem[8*i])) }

// setAll stores v in every word and wakes their waiters (so a waiter
// blocked on the old value looks again).
func (l *ownerPage) setAll(v uint32) {
	for i := range liveWords {
		// SYNC: release of the owner word; clients' waiters read it with
		// an atomic load.
		atomic.StoreUint32(l.word(i), v)
		futex(l.word(i), futexWake, math.MaxInt32, nil)
	}
}

// own registers the calling thread — which must be locked to its goroutine
// and stay so until disown — as the owner: if it dies, the kernel marks the
// page. Cost: one set_robust_list(2) and liveWords FUTEX_WAKEs.
func (l *ownerPage) own() {
	if l == nil {
		return
	}
	// In a cgo program glibc gives every thread it starts a robust list.
	// While that list is empty the thread holds no robust pthread mutex
	// and the list can be replaced; a non-empty one is left alone (the
	// socket alone tells then). Cost of replacing: robust mutexes that C
	// code locks on this thread later are not released by the kernel if
	// the process dies holding them — keep such C calls off poller 0.
	var cur, n uintptr
	if _, _, e := unix.RawSyscall(unix.SYS_GET_ROBUST_LIST, 0, uintptr(unsafe.Pointer(&cur)), uintptr(unsafe.Pointer(&n))); e != 0 {
		return
	}
	if cur != 0 {
		head := *(**uintptr)(unsafe.Pointer(&cur)) // struct robust_list_head; next first
		if *head != cur {
			return
		}
	}
	for i := range liveWords - 1 {
		l.entries[i] = uintptr(unsafe.Pointer(&l.entries[i+1]))
	}
	l.entries[liveWords-1] = uintptr(unsafe.Pointer(&l.head))
	l.head.next = uintptr(unsafe.Pointer(&l.entries[0]))
	l.head.offset = int64(uintptr(unsafe.Pointer(l.word(0))) - uintptr(unsafe.Pointer(&l.entries[0])))
	_, _, e := unix.RawSyscall(unix.SYS_SET_ROBUST_LIST, uintptr(unsafe.Pointer(&l.head)), unsafe.Sizeof(l.head), 0)
	if e != 0 {
		return // no robust futexes here: the socket alone tells
	}
	l.owned = true
	l.setAll(uint32(unix.Gettid()) | futexWaiters)
}

// disown undoes own on the same thread, before it may exit: the page says
// "no poller" (0), not "died".
func (l *ownerPage) disown() {
	if l == nil || !l.owned {
		return
	}
	// No list at all (a null head: the kernel then walks nothing).
	unix.RawSyscall(unix.SYS_SET_ROBUST_LIST, 0, unsafe.Sizeof(robustHead{}), 0)
	l.owned = false
	l.setAll(0)
}

func (l *ownerPage) close() {
	if l == nil {
		return
	}
	if l.mem != nil {
		unix.Munmap(l.mem)
	}
	unix.Close(l.fd)
}

// futex is futex(2) on w (op carries futexPrivate when the word is this
// process's own); ts bounds a wait (nil: none).
func futex(w *uint32, op int, val uint32, ts *unix.Timespec) unix.Errno {
	_, _, e := unix.Syscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(w)), uintptr(op), uintptr(val), uintptr(unsafe.Pointer(ts)), 0, 0)
	return e
}

// clientLiveness is a client process's mapping of one server's page, shared
// by every attachment to that server (keyed by the memfd's inode), with one
// goroutine blocked in FUTEX_WAIT on the owner word.
type clientLiveness struct {
	key    inodeKey
	fd     int
	mem    []byte
	word   *uint32       // this process's word
	refs   int           // guarded by lives.mu
	closed uint32        // 1 once released: a private futex word the waiter also waits on
	fired  atomic.Bool   // livenessDied has been started (once)
	done   chan struct{} // closed when the waiter has returned
}

var lives struct {
	mu sync.Mutex
	m  map[inodeKey]*clientLiveness
}

// mapLiveness takes a server's liveness fd (closing it) and returns the
// process's shared mapping of it, or an error when the fd is not a sealed
// 4 KiB page.
func mapLiveness(fd int) (*clientLiveness, error) {
	key, err := checkPage(fd)
	if err != nil {
		unix.Close(fd)
		return nil, err
	}
	lives.mu.Lock()
	defer lives.mu.Unlock()
	if l := lives.m[key]; l != nil {
		unix.Close(fd)
		l.refs++
		return l, nil
	}
	mem, err := unix.Mmap(fd, 0, livePage, unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		unix.Close(fd)
		return nil, msg.Errorf("link: map liveness page: %w", err)
	}
	l := &clientLiveness{key: key, fd: fd, mem: mem, refs: 1, done: make(chan struct{}),
		word: (*uint32)(unsafe.Pointer(&mem[8*(os.Getpid()%liveWords)]))}
	if lives.m == nil {
		lives.m = map[inodeKey]*clientLiveness{}
	}
	lives.m[key] = l
	go l.wait()
	return l, nil
}

// checkPage checks that a peer's liveness fd is a 4 KiB page that cannot
// shrink (so a mapping of it never faults) and returns its (device, inode).
func checkPage(fd int) (inodeKey, error) {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil || st.Size != livePage {
		return inodeKey{}, msg.Errorf("%w: liveness page of %d bytes", ErrProtocol, st.Size)
	}
	seals, err := unix.FcntlInt(uintptr(fd), unix.F_GET_SEALS, 0)
	if err != nil || seals&(unix.F_SEAL_SHRINK) == 0 {
		return inodeKey{}, msg.Errorf("%w: liveness page not sealed against shrinking", ErrProtocol)
	}
	return inodeKey{uint64(st.Dev), st.Ino}, nil
}

// dead reports whether the kernel has marked the server's poller dead. One
// atomic load of a line that changes only at the server's start and death.
func (l *clientLiveness) dead() bool {
	return l != nil && atomic.LoadUint32(l.word)&futexOwnerDie != 0
}

// report starts livenessDied once, on its own goroutine (the caller may
// hold the client poller's lock, and OnState callbacks run from it).
func (l *clientLiveness) report() {
	if l.fired.CompareAndSwap(false, true) {
		go livenessDied(l)
	}
}

// wait blocks until the owner dies or the mapping is released: in
// futex_waitv(2) on both the owner word and the private closed word, or
// where that call is missing (before Linux 5.16) in FUTEX_WAIT on the owner
// word with a 50 ms timeout, looking at closed in between.
func (l *clientLiveness) wait() {
	defer close(l.done)
	w := l.word
	waitv := true
	for atomic.LoadUint32(&l.closed) == 0 {
		// SYNC: acquire of the owner word, written by the server's own and
		// disown or by the kernel when the owner dies.
		v := atomic.LoadUint32(w)
		if v&futexOwnerDie != 0 {
			// The kernel wakes one waiter per word; pass it on to the
			// other processes sharing ours, then end this process's
			// attachments.
			futex(w, futexWake, math.MaxInt32, nil)
			if l.fired.CompareAndSwap(false, true) {
				livenessDied(l)
			}
			return
		}
		if waitv {
			vs := [2]futexWaitv{
				{val: uint64(v), addr: uint64(uintptr(unsafe.Pointer(w))), flags: futex2U32},
				{val: 0, addr: uint64(uintptr(unsafe.Pointer(&l.closed))), flags: futex2U32 | futex2Private},
			}
			_, _, e := unix.Syscall6(unix.SYS_FUTEX_WAITV, uintptr(unsafe.Pointer(&vs[0])), 2, 0, 0, 0, 0)
			if e != unix.ENOSYS {
				continue // woken, EAGAIN (a value moved) or EINTR: look again
			}
			waitv = false
		}
		ts := unix.NsecToTimespec(50e6)
		futex(w, futexWait, v, &ts)
	}
}

// futexWaitv is the kernel's struct futex_waitv.
type futexWaitv struct {
	val      uint64
	addr     uint64
	flags    uint32
	reserved uint32
}

const (
	futex2U32     = 0x02
	futex2Private = 128
)

// unref drops one attachment's reference; the last one stops the waiter
// and unmaps. Cost: a FUTEX_WAKE and the waiter's exit.
func (l *clientLiveness) unref() {
	if l == nil {
		return
	}
	lives.mu.Lock()
	l.refs--
	last := l.refs == 0
	if last {
		delete(lives.m, l.key)
	}
	lives.mu.Unlock()
	if !last {
		return
	}
	// SYNC: release of closed; the waiter's futex_waitv compares it.
	atomic.StoreUint32(&l.closed, 1)
	futex(&l.closed, futexWake|futexPrivate, math.MaxInt32, nil)
	<-l.done
	unix.Munmap(l.mem)
	unix.Close(l.fd)
}
