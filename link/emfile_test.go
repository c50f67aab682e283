package link

import (
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestAcceptBacksOffAtTheFdLimit: with the server's process out of file
// descriptors and connections waiting in its backlog, the level-triggered
// listener would wake the loop at once for ever, each accept failing with
// EMFILE. The server takes the listener out of its epoll set, 10 ms
// doubling to 1 s: its accept calls and its log lines stay few, and the
// connection already attached is served throughout. Once descriptors are
// free again it accepts the waiting clients.
func TestAcceptBacksOffAtTheFdLimit(t *testing.T) {
	var logged, acceptLines atomic.Int64
	s, dir := serve(t, Options{Logf: func(format string, args ...any) {
		logged.Add(1)
		if strings.Contains(format, "accept") {
			acceptLines.Add(1)
		}
	}})
	c := dial(t, dir)
	callOK(t, c, 1)
	// Client sockets made now, connected once no descriptor is left.
	socks := make([]int, 32)
	for i := range socks {
		fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		socks[i] = fd
	}
	defer closeFds(socks)
	var old unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &old); err != nil {
		t.Fatal(err)
	}
	low, err := unix.Dup(0) // the lowest free descriptor: none below it is free
	if err != nil {
		t.Fatal(err)
	}
	unix.Close(low)
	lim := old
	lim.Cur = uint64(low)
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		t.Skip("cannot lower RLIMIT_NOFILE:", err)
	}
	restored := false
	restore := func() {
		if !restored {
			restored = true
			unix.Setrlimit(unix.RLIMIT_NOFILE, &old)
		}
	}
	defer restore()
	calls0, errs0 := s.stats.acceptCalls.Load(), s.Stats().AcceptErrors
	sock, _, _ := paths(dir, "t")
	for _, fd := range socks {
		if err := unix.Connect(fd, &unix.SockaddrUnix{Name: sock}); err != nil {
			restore()
			t.Fatal(err)
		}
	}
	start := time.Now()
	for k := int64(0); time.Since(start) < 300*time.Millisecond; k++ {
		callOK(t, c, k) // served throughout
	}
	elapsed := time.Since(start)
	calls, errs := s.stats.acceptCalls.Load()-calls0, s.Stats().AcceptErrors-errs0
	lines := acceptLines.Load()
	restore()
	// A busy loop makes hundreds of thousands of calls in that time; the
	// backoff about one per pause (10, 20, 40… ms).
	if errs == 0 || calls > 2+uint64(elapsed/(10*time.Millisecond)) {
		t.Errorf("%d accept calls, %d errors in %v", calls, errs, elapsed)
	}
	if lines > 1+int64(elapsed/time.Second) {
		t.Errorf("%d log lines about accept errors in %v", lines, elapsed)
	}
	// Descriptors again: the server takes the waiting clients (after its
	// pause) and answers a new one.
	if !waitFor(5*time.Second, func() bool { return s.stats.acceptCalls.Load()-calls0 > calls+uint64(len(socks)) }) {
		t.Fatalf("the waiting clients were not accepted: %+v", s.Stats())
	}
	honestDials(t, dir, "t", 1)
	t.Logf("%d accept calls, %d errors, %d log lines in %v", calls, errs, lines, elapsed)
}
