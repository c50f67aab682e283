package topic

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Child processes: TOPIC_CHILD=read:N:DIR reads N messages in order and
// prints "OK N lost L"; TOPIC_CHILD=hang:DIR subscribes, prints READY and
// reads nothing until killed; TOPIC_CHILD=listen:DIR listens on DIR's
// socket for "ticks" as a publisher would, and answers nothing;
// TOPIC_CHILD=silent:N:DIR keeps N connections to that socket that send
// nothing, making a new one for each the publisher closes.
const childEnv = "TOPIC_CHILD"

func TestMain(m *testing.M) {
	if spec := os.Getenv(childEnv); spec != "" {
		os.Exit(child(spec))
	}
	os.Exit(m.Run())
}

func child(spec string) int {
	f := strings.SplitN(spec, ":", 3)
	dir := f[len(f)-1]
	switch f[0] {
	case "listen":
		return listenChild(dir)
	case "silent":
		n, _ := strconv.Atoi(f[1])
		return silentChild(n, dir)
	}
	s, err := Subscribe[tick]("ticks", SubscribeOptions{Dir: dir, Wait: 5 * time.Second})
	if err != nil {
		fmt.Println("ERR", err)
		return 1
	}
	fmt.Println("READY")
	switch f[0] {
	case "hang":
		time.Sleep(time.Minute)
		return 0
	case "follow", "stall":
		return follow(s, f[0] == "stall")
	}
	n, _ := strconv.ParseUint(f[1], 10, 64)
	var next uint64
	deadline := time.Now().Add(30 * time.Second)
	for next < n && time.Now().Before(deadline) {
		if _, err := s.Poll(func(m *tick) {
			if m.Seq != next || m.Price != int64(m.Seq)*3 {
				fmt.Println("BAD", m.Seq, next)
				os.Exit(1)
			}
			next++
		}, 0); err != nil {
			fmt.Println("ERR", err)
			return 1
		}
	}
	fmt.Println("OK", next, "lost", s.Lost())
	return 0
}

// listenChild listens on a socket for topic "ticks" in dir, prints READY
// and answers nothing until killed (a minute at most): an impostor.
func listenChild(dir string) int {
	l, err := unix.Socket(unix.AF_UNIX, unix.SOCK_SEQPACKET, 0)
	if err == nil {
		err = unix.Bind(l, &unix.SockaddrUnix{Name: filepath.Join(dir, "ticks.sock")})
	}
	if err == nil {
		err = unix.Listen(l, 4)
	}
	if err != nil {
		fmt.Println("ERR", err)
		return 1
	}
	fmt.Println("READY")
	time.Sleep(time.Minute)
	return 0
}

// silentChild keeps n connections to topic "ticks" in dir that send
// nothing, each replaced as soon as the publisher closes it, for a minute;
// it prints READY once all n have connected.
func silentChild(n int, dir string) int {
	addr := &unix.SockaddrUnix{Name: filepath.Join(dir, "ticks.sock")}
	fds := make([]unix.PollFd, n)
	for i := range fds {
		fds[i].Fd = -1
	}
	ready := false
	for end := time.Now().Add(time.Minute); time.Now().Before(end); {
		up := 0
		for i := range fds {
			if fds[i].Fd < 0 {
				c, err := unix.Socket(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
				if err == nil && unix.Connect(c, addr) != nil {
					unix.Close(c)
					continue
				}
				fds[i] = unix.PollFd{Fd: int32(c), Events: unix.POLLIN | unix.POLLRDHUP}
			}
			up++
		}
		if !ready && up == n {
			fmt.Println("READY")
			ready = true
		}
		unix.Poll(fds, 1)
		for i := range fds {
			if fds[i].Fd >= 0 && fds[i].Revents != 0 { // an answer, or closed
				unix.Close(int(fds[i].Fd))
				fds[i] = unix.PollFd{Fd: -1}
			}
		}
	}
	return 0
}

// follow reads from wherever the subscriber starts until the stop
// message, checking that sequences are contiguous, and prints "OK n lost
// l"; with stall it stops reading for a while once, and prints "EVICTED"
// when the publisher lets it go.
func follow(s *Subscriber[tick], stall bool) int {
	var next, n uint64
	first := true
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		stop := false
		_, err := s.Poll(func(m *tick) {
			switch {
			case m.Seq == stopSeq:
				stop = true
			case !first && m.Seq != next, m.Price != int64(m.Seq)*3:
				fmt.Println("BAD", m.Seq, next)
				os.Exit(1)
			}
			first, next = false, m.Seq+1
			n++
		}, 0)
		if errors.Is(err, ErrEvicted) {
			fmt.Println("EVICTED")
			return 0
		}
		if stop {
			fmt.Println("OK", n-1, "lost", s.Lost())
			return 0
		}
		if stall && n > 1000 {
			stall = false
			time.Sleep(1500 * time.Millisecond)
		}
	}
	fmt.Println("TIMEOUT")
	return 1
}

const stopSeq = ^uint64(0)

// startChild starts a child and waits for its READY line.
func startChild(t *testing.T, spec string) (*exec.Cmd, *bufio.Reader) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+spec)
	out, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	r := bufio.NewReader(out)
	if l, err := r.ReadString('\n'); err != nil || l != "READY\n" {
		t.Fatalf("child said %q (%v)", l, err)
	}
	return cmd, r
}

// waitSubscribers waits, up to 5 s, for the publisher to count n.
func waitSubscribers(t *testing.T, p *Publisher[tick], n int) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); p.Stats().Subscribers != n; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d subscribers, want %d", p.Stats().Subscribers, n)
		}
	}
}

// TestCrossProcess: two subscriber processes read a reliable topic whole
// and in order while a third, SIGKILLed without reading, is let go and
// holds nothing back.
func TestCrossProcess(t *testing.T) {
	const n = 100_000
	p, dir := create(t, Options{Capacity: 256, Policy: Reliable, StallTimeout: time.Minute})
	hang, _ := startChild(t, "hang:"+dir)
	var readers []*bufio.Reader
	for range 2 {
		_, r := startChild(t, fmt.Sprintf("read:%d:%s", n, dir))
		readers = append(readers, r)
	}
	waitSubscribers(t, p, 3)
	hang.Process.Signal(syscall.SIGKILL)
	hang.Wait()
	waitSubscribers(t, p, 2)
	// The dead process's segment name is removed too.
	dead := fmt.Sprintf("ticks~s%d.", hang.Process.Pid)
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
		ents, _ := os.ReadDir(dir)
		if !slices.ContainsFunc(ents, func(e os.DirEntry) bool { return strings.HasPrefix(e.Name(), dead) }) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s… still in the directory", dead)
		}
	}
	for i := range uint64(n) {
		if err := p.Publish(&tick{Seq: i, Price: int64(i) * 3}); err != nil {
			t.Fatal(err)
		}
	}
	for _, r := range readers {
		if l, err := r.ReadString('\n'); err != nil || l != fmt.Sprintf("OK %d lost 0\n", n) {
			t.Fatalf("a reader said %q (%v)", l, err)
		}
	}
	if st := p.Stats(); st.Evicted != 0 {
		t.Fatalf("%+v", st)
	}
}

// TestChaos: subscriber processes join while a reliable topic streams
// (with no History, and with History 200 of 256, so that each joiner
// starts behind the tail); some are SIGKILLed, some stall past
// StallTimeout. Every survivor reads a contiguous run of sequences to the
// end, losing nothing; every staller is evicted and told so; the
// publisher never stops for long.
func TestChaos(t *testing.T) {
	for _, history := range []int{0, 200} {
		t.Run(fmt.Sprintf("history=%d", history), func(t *testing.T) { chaos(t, history) })
	}
}

func chaos(t *testing.T, history int) {
	// StallTimeout well above a busy host's scheduling delays, so that only
	// the stallers (1.5 s) pass it.
	p, dir := create(t, Options{Capacity: 256, Policy: Reliable, History: history, StallTimeout: 500 * time.Millisecond})
	type kid struct {
		r    *bufio.Reader
		cmd  interface{ Signal(os.Signal) error }
		mode string
	}
	var kids []kid
	var seq uint64
	publish := func(n int) {
		for range n {
			if err := p.Publish(&tick{Seq: seq, Price: int64(seq) * 3}); err != nil {
				t.Fatal(err)
			}
			seq++
		}
	}
	// Joins between bursts; every third round SIGKILLs the oldest child
	// still there (a follower that has been reading, then a staller).
	for round, mode := range []string{"follow", "stall", "follow", "hang", "follow", "stall", "follow"} {
		cmd, r := startChild(t, mode+":"+dir)
		kids = append(kids, kid{r, cmd.Process, mode})
		publish(10_000)
		if round%3 == 2 {
			k := kids[0]
			k.cmd.Signal(syscall.SIGKILL)
			kids = kids[1:]
		}
	}
	publish(20_000)
	if err := p.Publish(&tick{Seq: stopSeq}); err != nil {
		t.Fatal(err)
	}
	for _, k := range kids {
		if k.mode == "hang" {
			continue // evicted for stalling, or let go at its kill by the cleanup
		}
		l, err := k.r.ReadString('\n')
		want := "OK "
		if k.mode == "stall" {
			want = "EVICTED"
		}
		if err != nil || !strings.HasPrefix(l, want) || (want == "OK " && !strings.HasSuffix(l, " lost 0\n")) {
			t.Fatalf("a %s child said %q (%v)", k.mode, l, err)
		}
	}
}
