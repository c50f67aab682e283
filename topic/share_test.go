package topic

import (
	"bufio"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/spinwire/spinwire/layout"
	"github.com/spinwire/spinwire/link"
	"golang.org/x/sys/unix"
)

// sharedTopic creates the reliable topic "ticks" shared under policy, and
// returns it and the directory other uids subscribe in.
func sharedTopic(t *testing.T, policy link.Policy) (*Publisher[tick], string) {
	t.Helper()
	p, _ := create(t, Options{Capacity: 64, Policy: Reliable, StallTimeout: time.Minute, Share: policy, Logf: t.Logf})
	return p, SharedDir(uint32(os.Getuid()))
}

// TestShareRemote: a subscriber that reaches a shared topic through its
// publisher's socket, and gets the topic's bell with it, reads a reliable
// stream whole and in order (waiting through the bell), held back by
// nothing; when it closes, the publisher lets its segment go and
// stops waiting for it; a second shared publisher of the name is refused.
func TestShareRemote(t *testing.T) {
	p, sdir := sharedTopic(t, link.Policy{UIDs: []uint32{12345}})
	sc, _ := layout.Of[tick]()
	if _, err := CreateRaw("ticks", sc, Options{Dir: t.TempDir(), Share: link.Policy{UIDs: []uint32{1}}}); !errors.Is(err, ErrInUse) {
		t.Fatalf("a second shared publisher of the name: %v", err)
	}
	s, err := Subscribe[tick]("ticks", SubscribeOptions{Dir: sdir})
	if err != nil {
		t.Fatal(err)
	}
	if s.conn < 0 {
		t.Fatal("subscribed by name, not through the socket")
	}
	if s.t.bell == nil {
		t.Fatal("no bell came with the topic")
	}
	// Whoever holds the bell's descriptor may not seal it against the
	// next subscribers' writable mappings.
	if _, err := unix.FcntlInt(uintptr(p.bellSeg.Fd()), unix.F_ADD_SEALS, unix.F_SEAL_FUTURE_WRITE); err == nil {
		t.Fatal("the bell took a seal")
	}
	waitSubscribers(t, p, 1)
	// The publisher, of another uid, may read the subscriber segment it
	// was sent, and not write it (layout.SealWrites).
	if seals, err := unix.FcntlInt(uintptr(s.cell.s.seg.Fd()), unix.F_GET_SEALS, 0); err != nil || seals&unix.F_SEAL_FUTURE_WRITE == 0 {
		t.Fatalf("the subscriber segment's seals: %#x, %v", seals, err)
	}
	const n = 1000
	published := make(chan struct{})
	go func() {
		defer close(published)
		for i := range uint64(n) {
			p.Publish(&tick{Seq: i, Price: int64(i) * 3})
		}
	}()
	var next uint64
	for end := time.Now().Add(10 * time.Second); next < n && time.Now().Before(end); {
		if k, err := s.Poll(func(m *tick) {
			if m.Seq != next {
				t.Fatalf("message %d came as %d", next, m.Seq)
			}
			next++
		}, 0); err != nil {
			t.Fatal(err)
		} else if k == 0 {
			s.Wait(time.Millisecond)
		}
	}
	if next != n {
		t.Fatalf("received %d of %d", next, n)
	}
	<-published
	s.Close()
	waitSubscribers(t, p, 0)
	for i := range uint64(100) { // more than the ring: nobody holds it back now
		if err := p.Publish(&tick{Seq: n + i}); err != nil {
			t.Fatal(err)
		}
	}
}

// TestShareRefused: a uid the policy does not admit (here, the
// publisher's own with DenySameUID) gets ErrPermission and costs the
// publisher nothing; a peer that sends no descriptor, a pipe, or nothing
// at all is refused, and a good subscriber still gets in.
func TestShareRefused(t *testing.T) {
	p, sdir := sharedTopic(t, link.Policy{UIDs: []uint32{12345}, DenySameUID: true})
	if _, err := Subscribe[tick]("ticks", SubscribeOptions{Dir: sdir}); !errors.Is(err, ErrPermission) ||
		!strings.Contains(err.Error(), "refused by the publisher's policy") {
		t.Fatalf("a refused uid: %v", err)
	}
	if st := p.Stats(); st.Refused != 1 {
		t.Fatalf("refused %d connections, want 1", st.Refused)
	}
	p.Close()
	// Hostile peers of an admitted uid, then a good one.
	p, sdir = sharedTopic(t, link.Policy{UIDs: []uint32{12345}})
	var pipe [2]int
	unix.Pipe2(pipe[:], unix.O_CLOEXEC)
	defer unix.Close(pipe[0])
	defer unix.Close(pipe[1])
	for _, send := range []func(int){
		func(c int) { unix.Sendmsg(c, []byte("hello"), nil, nil, 0) },
		func(c int) { unix.Sendmsg(c, []byte("SPINTSUB"), unix.UnixRights(pipe[0]), nil, 0) },
		func(c int) {},
	} {
		c, _ := unix.Socket(unix.AF_UNIX, unix.SOCK_SEQPACKET, 0)
		if err := unix.Connect(c, &unix.SockaddrUnix{Name: filepath.Join(sdir, "ticks.sock")}); err != nil {
			t.Fatal(err)
		}
		send(c)
		var buf [16]byte
		tv := unix.NsecToTimeval(int64(time.Second))
		unix.SetsockoptTimeval(c, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
		if n, _, _, _, err := unix.Recvmsg(c, buf[:], nil, 0); n != 0 || err != nil {
			t.Errorf("a hostile peer got %d bytes (%v)", n, err)
		}
		unix.Close(c)
	}
	s, err := Subscribe[tick]("ticks", SubscribeOptions{Dir: sdir})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	waitSubscribers(t, p, 1)
	if st := p.Stats(); st.Refused != 3 {
		t.Fatalf("refused %d connections, want the 3 hostile peers'", st.Refused)
	}
}

// otherUIDBin returns a copy of the test binary that other uids can run,
// or skips the test when this process cannot start one (it must be root).
func otherUIDBin(t *testing.T) string {
	t.Helper()
	if os.Getuid() != 0 {
		t.Skip("needs root: starts processes under other uids")
	}
	dir := t.TempDir()
	os.Chmod(filepath.Dir(dir), 0o755)
	os.Chmod(dir, 0o755)
	bin := filepath.Join(dir, "topic.test")
	data, _ := os.ReadFile(os.Args[0])
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	return bin
}

// TestSharePublisherOfAnotherUID: a subscriber refuses a publisher in
// SharedDir(uid) that another uid made first, and one whose uid does not
// own its directory (here, a sticky world-writable one), before it sends
// anything.
func TestSharePublisherOfAnotherUID(t *testing.T) {
	bin := otherUIDBin(t)
	squat := link.SharedDir(54322) // a uid that has made no directory yet (link's tests squat 54321)
	os.RemoveAll(squat)
	t.Cleanup(func() { os.RemoveAll(squat) })
	for _, d := range []string{squat, SharedDir(54322)} {
		if err := os.Mkdir(d, 0o711); err != nil {
			t.Fatal(err)
		}
		os.Chown(d, 23456, 23456)
	}
	sticky := t.TempDir()
	os.Chmod(sticky, 0o777|os.ModeSticky)
	for dir, want := range map[string]string{
		SharedDir(54322): "belongs to uid 23456, not to uid 54322",
		sticky:           "runs as uid 23456",
	} {
		cmd := exec.Command(bin, "-test.run=^$")
		cmd.Env = append(os.Environ(), childEnv+"=listen:"+dir)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 23456, Gid: 23456}}
		out, _ := cmd.StdoutPipe()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		if l, _ := bufio.NewReader(out).ReadString('\n'); l != "READY\n" {
			t.Fatalf("listener in %s: %q", dir, l)
		}
		_, err := Subscribe[tick]("ticks", SubscribeOptions{Dir: dir})
		cmd.Process.Kill()
		cmd.Wait()
		if !errors.Is(err, ErrPermission) || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want ErrPermission saying %q", dir, err, want)
		}
	}
}

// TestShareOtherUID: a shared topic is read by a subscriber process of an
// admitted uid and refused to one of another. Root only.
func TestShareOtherUID(t *testing.T) {
	bin := otherUIDBin(t)
	p, sdir := sharedTopic(t, link.Policy{UIDs: []uint32{12345}})
	run := func(uid uint32, n int) (*exec.Cmd, *strings.Builder) {
		cmd := exec.Command(bin, "-test.run=^$")
		cmd.Env = append(os.Environ(), childEnv+"=read:"+strconv.Itoa(n)+":"+sdir)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: uid}}
		var out strings.Builder
		cmd.Stdout = &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd, &out
	}
	denied, dout := run(23456, 1)
	denied.Wait()
	if !strings.Contains(dout.String(), "permission denied") {
		t.Fatalf("uid 23456: %q", dout.String())
	}
	const n = 500
	admitted, aout := run(12345, n)
	waitSubscribers(t, p, 1)
	for i := range uint64(n) {
		p.Publish(&tick{Seq: i, Price: int64(i) * 3})
	}
	admitted.Wait()
	if !strings.Contains(aout.String(), "OK 500 lost 0") {
		t.Fatalf("uid 12345: %q", aout.String())
	}
}

// TestShareRemoteFollow: a subscriber through the socket follows a
// restarted publisher of the name, as one by name does.
func TestShareRemoteFollow(t *testing.T) {
	p, sdir := sharedTopic(t, link.Policy{UIDs: []uint32{12345}})
	s, err := Subscribe[tick]("ticks", SubscribeOptions{Dir: sdir})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	epoch := s.Epoch()
	p.Close()
	p2, _ := sharedTopic(t, link.Policy{UIDs: []uint32{12345}})
	var got bool
	for end := time.Now().Add(10 * time.Second); !got && time.Now().Before(end); {
		p2.TryPublish(&tick{Seq: 7, Price: 21})
		s.Poll(func(m *tick) { got = m.Seq == 7 }, 0)
		time.Sleep(100 * time.Microsecond)
	}
	if !got || s.Epoch() == epoch {
		t.Fatalf("did not follow the new publisher (epoch %d, was %d)", s.Epoch(), epoch)
	}
	waitSubscribers(t, p2, 1)
}

// TestShareConnLimit: a process that brings one segment over more
// connections than it has cells is refused beyond them.
func TestShareConnLimit(t *testing.T) {
	_, sdir := sharedTopic(t, link.Policy{UIDs: []uint32{12345}})
	sc, _ := layout.Of[tick]()
	c, err := reserveCell(sdir, "ticks", false)
	if err != nil {
		t.Fatal(err)
	}
	defer c.release()
	var conns []int
	defer func() {
		for _, fd := range conns {
			unix.Close(fd)
		}
	}()
	for i := range subCells + 1 {
		v, conn, err := exchange(sdir, "ticks", c.s, sc, SubscribeOptions{})
		if i < subCells {
			if err != nil {
				t.Fatalf("connection %d: %v", i, err)
			}
			v.close()
			conns = append(conns, conn)
			continue
		}
		if !errors.Is(err, ErrPermission) {
			t.Fatalf("connection %d beyond the cells: %v", i, err)
		}
	}
}

// TestShareSetupsBounded: a process that keeps connecting to a shared
// topic's socket and says nothing holds at most its share of the set-ups
// the publisher runs at once; subscribers of other processes still get in.
func TestShareSetupsBounded(t *testing.T) {
	_, sdir := sharedTopic(t, link.Policy{UIDs: []uint32{12345}})
	startChild(t, "silent:"+strconv.Itoa(2*maxAdmitting)+":"+sdir)
	for i := range 20 {
		s, err := Subscribe[tick]("ticks", SubscribeOptions{Dir: sdir})
		if err != nil {
			t.Fatalf("subscriber %d: %v", i, err)
		}
		s.Close()
	}
}

// TestShareManyAtOnce: a process whose subscribers set up at once, more
// than its share of the publisher's set-ups, gets every one in: those
// told the publisher is busy try again.
func TestShareManyAtOnce(t *testing.T) {
	p, sdir := sharedTopic(t, link.Policy{UIDs: []uint32{12345}})
	errs := make(chan error, subCells)
	subs := make(chan *Subscriber[tick], subCells)
	for range subCells {
		go func() {
			s, err := Subscribe[tick]("ticks", SubscribeOptions{Dir: sdir, Wait: 10 * time.Second})
			errs <- err
			subs <- s
		}()
	}
	for range subCells {
		if err := <-errs; err != nil {
			t.Error(err)
		}
		if s := <-subs; s != nil {
			defer s.Close()
		}
	}
	waitSubscribers(t, p, subCells)
}

// TestShareConnsBounded: one process's subscribers that bring their
// segments over the share socket are kept up to maxShareSegsPerProc
// segments of 64 cells, one connection a cell; the next is refused with
// ErrBusy, and once some of them close the publisher lets them go and
// takes a new one.
func TestShareConnsBounded(t *testing.T) {
	const bound = maxShareSegsPerProc * subCells
	var lim unix.Rlimit
	if unix.Getrlimit(unix.RLIMIT_NOFILE, &lim) != nil || lim.Cur < 2*bound+1000 {
		t.Skipf("needs %d descriptors", 2*bound+1000)
	}
	p, sdir := sharedTopic(t, link.Policy{UIDs: []uint32{12345}})
	sc, _ := layout.Of[tick]()
	var cells []*cell
	var conns []int
	defer func() {
		for _, fd := range conns {
			unix.Close(fd)
		}
		for _, c := range cells {
			c.release()
		}
	}()
	// connect brings the segment of cell c over a connection of its own.
	connect := func(c *cell) error {
		v, conn, err := exchange(sdir, "ticks", c.s, sc, SubscribeOptions{})
		if err == nil {
			v.close()
			conns = append(conns, conn)
		}
		return err
	}
	for i := range bound + 1 {
		c, err := reserveCell(sdir, "ticks", false) // a new segment every subCells cells
		if err != nil {
			t.Fatal(err)
		}
		cells = append(cells, c)
		err = connect(c)
		if i < bound && err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		if i == bound && !errors.Is(err, ErrBusy) {
			t.Fatalf("connection %d, beyond the bound: %v", i, err)
		}
	}
	p.subs.mu.RLock()
	n, segs := p.subs.nconns, len(p.subs.segs)
	p.subs.mu.RUnlock()
	if n != bound || segs != maxShareSegsPerProc {
		t.Fatalf("%d connections and %d segments kept", n, segs)
	}
	for _, fd := range conns[:subCells] { // the first segment's
		unix.Close(fd)
	}
	conns = conns[subCells:]
	last := cells[len(cells)-1]
	for deadline := time.Now().Add(5 * time.Second); connect(last) != nil; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no connection taken after 64 closed")
		}
	}
}
