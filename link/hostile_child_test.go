package link

import (
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/spinwire/spinwire/layout"
	"golang.org/x/sys/unix"
)

// hostileChild runs the roles of a hostile (or merely noisy) client
// process; it reports false for an unknown role.
func hostileChild(role, dir, name string, n int) bool {
	switch role {
	case "flood": // n hellos of a wrong version, each with the same sealed page
		fmt.Println("DONE", floodHellos(dir, name, n, wireVersion+1))
	case "unmappable": // n hellos, each with a sealed page opened write-only
		sent, refused := unmappableHellos(dir, name, n)
		fmt.Println("DONE", sent, refused)
	case "silent": // n connections that never say hello, held until stdin closes
		var fds []int
		for range n {
			if fd, err := rawConnect(dir, name); err == nil {
				fds = append(fds, fd)
			}
		}
		fmt.Println("HELD", len(fds))
		io.Copy(io.Discard, os.Stdin)
		closeFds(fds)
	case "arena": // dial, say which arena the server gave, hold until stdin closes
		c, err := Dial[req, resp](name, DialOptions{Dir: dir})
		if err != nil {
			fmt.Println("ERR", err)
			return true
		}
		var st unix.Stat_t
		unix.Fstat(c.cur.seg.seg.Fd(), &st)
		fmt.Println("ARENA", st.Dev, st.Ino)
		io.Copy(io.Discard, os.Stdin)
		c.Close()
	case "scribble": // n rounds of garbage over every byte of the arena it maps
		scribble(dir, name, n)
	default:
		return false
	}
	return true
}

// rawConnect connects to name's socket in dir without saying anything.
func rawConnect(dir, name string) (int, error) {
	sock, _, err := paths(dir, name)
	if err != nil {
		return -1, err
	}
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	setTimeouts(fd, 5*time.Second)
	if err := unix.Connect(fd, &unix.SockaddrUnix{Name: sock}); err != nil {
		unix.Close(fd)
		return -1, err
	}
	return fd, nil
}

// helloFor is a correct client's hello for req and resp, of version v.
func helloFor(v uint32) []byte {
	rs, _ := layout.Of[req]()
	ps, _ := layout.Of[resp]()
	h := hello{version: v, reqSize: uint32(rs.Size), respSize: uint32(ps.Size),
		reqFP: rs.Fingerprint, respFP: ps.Fingerprint, reqSchema: rs.Encode(), respSchem: ps.Encode()}
	return h.encode()
}

// floodHellos sends n hellos of version v, each on a new connection that
// it closes once the server has answered, all carrying the same sealed
// 4 KiB page; it returns how many connections it made (a server that
// refuses at the accept may close one before its hello goes).
func floodHellos(dir, name string, n int, v uint32) int {
	page := newOwnerPage("flood")
	if page == nil {
		return 0
	}
	defer page.close()
	b := helloFor(v)
	sent := 0
	for range n {
		if _, connected, _ := helloRound(dir, name, b, page.fd); connected {
			sent++
		}
	}
	return sent
}

// helloRound connects to name's socket in dir, sends the hello b with the
// descriptors fds and returns the welcome that comes back (the refusal is
// read after a reset too: readWelcome), closing the connection and the
// descriptors the welcome brought. connected says whether the connection
// was made; err is the reading's error (the sending's, if both failed).
func helloRound(dir, name string, b []byte, fds ...int) (w *welcome, connected bool, err error) {
	fd, err := rawConnect(dir, name)
	if err != nil {
		return nil, false, err
	}
	defer unix.Close(fd)
	serr := sendMsg(fd, b, fds...)
	var got [maxFds]int
	w, err = readWelcome(fd, &got)
	closeFds(got[:])
	if err != nil && serr != nil {
		err = serr
	}
	return w, true, err
}

// unmappableHellos sends n valid hellos, each on a new connection that it
// closes once the server has answered, all carrying the same sealed page
// opened write-only (so the server cannot map it); it returns how many
// connections it made and how many hellos were refused for the page.
func unmappableHellos(dir, name string, n int) (sent, refused int) {
	page := newOwnerPage("unmappable")
	if page == nil {
		return 0, 0
	}
	defer page.close()
	wo, err := unix.Open("/proc/self/fd/"+strconv.Itoa(page.fd), unix.O_WRONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return 0, 0
	}
	defer unix.Close(wo)
	b := helloFor(wireVersion)
	for range n {
		w, connected, err := helloRound(dir, name, b, wo)
		if connected {
			sent++
		}
		if err == nil && w.status == statusFull && strings.Contains(w.message, "liveness page") {
			refused++
		}
	}
	return sent, refused
}

// scribble dials two connections and then, n times, writes random bytes
// over every byte of the arena segment the server gave this process —
// headers, doorbells, every slot — rings every doorbell and calls on both
// connections, whatever they answer. It prints what its Conns counted.
func scribble(dir, name string, n int) {
	var cs [2]*Conn[req, resp]
	for i := range cs {
		c, err := Dial[req, resp](name, DialOptions{Dir: dir})
		if err != nil {
			fmt.Println("ERR", err)
			return
		}
		cs[i] = c
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range n {
		// The arena of the attachment in use (a redial may bring a new
		// one): the only one the server gave this process.
		mem := cs[0].cur.seg.seg.Bytes()
		words := unsafe.Slice((*uint64)(unsafe.Pointer(&mem[0])), len(mem)/8)
		for i := range words {
			atomic.StoreUint64(&words[i], rng.Uint64())
		}
		for _, c := range cs {
			var r resp
			c.Call(time.Now().Add(20*time.Millisecond), &req{A: 1}, &r)
		}
	}
	var corrupt, redials uint64
	for _, c := range cs {
		st := c.Stats()
		corrupt += st.Corrupt
		redials += st.Redials
		c.Close()
	}
	fmt.Println("DONE", corrupt, redials)
}
