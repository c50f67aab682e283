package spin

import (
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/spinwire/spinwire/affinity"
	"github.com/spinwire/spinwire/layout"
	"golang.org/x/sys/unix"
)

// Cross-process tests re-execute the test binary with SPIN_CHILD set; the
// child maps the segment passed as fd 3 and plays its role until it is done
// or its deadline passes. Every child is killed and reaped when the test ends.

const stopSeq = ^uint64(0)

// pair is two rings in one segment: ping (parent → child) and pong.
type pair[T any] struct {
	seg        *layout.Segment
	ping, pong *Ring[T]
}

func newPair[T any](tb testing.TB, capacity int, p Protocol) *pair[T] {
	tb.Helper()
	n, _, _ := RingLength[T](capacity, p)
	total := 2 * n
	seg, err := layout.Create(total, layout.Options{Fingerprint: layout.MustOf[T]().Fingerprint})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { seg.Close() })
	b := seg.Body()
	ping, err := NewRing[T](b[:total/2], RingOptions{Capacity: capacity, Protocol: p})
	if err != nil {
		tb.Fatal(err)
	}
	pong, err := NewRing[T](b[total/2:total], RingOptions{Capacity: capacity, Protocol: p})
	if err != nil {
		tb.Fatal(err)
	}
	// This process consumes pong: it keeps other consumers out.
	if err := pong.ClaimConsumer(); err != nil {
		tb.Fatal(err)
	}
	return &pair[T]{seg, ping, pong}
}

func openPair[T any](fd int) (*pair[T], error) {
	seg, err := layout.OpenFd(fd, layout.Options{Fingerprint: layout.MustOf[T]().Fingerprint})
	if err != nil {
		return nil, err
	}
	b := seg.Body()
	// The child learns the ring length from the environment, not from the
	// segment: a ring never trusts lengths its peer wrote.
	total, err := strconv.Atoi(os.Getenv("SPIN_PAIR_LEN"))
	if err != nil || total <= 0 || total > len(b) {
		return nil, fmt.Errorf("bad SPIN_PAIR_LEN %q", os.Getenv("SPIN_PAIR_LEN"))
	}
	ping, err := OpenRing[T](b[:total/2])
	if err != nil {
		return nil, err
	}
	pong, err := OpenRingProducer[T](b[total/2 : total])
	if err != nil {
		return nil, err
	}
	return &pair[T]{seg, ping, pong}, nil
}

// startChild runs role in a child process over p's segment, pinned to cpu
// (-1: not pinned).
func startChild[T any](tb testing.TB, p *pair[T], role string, cpu int, extra ...string) *exec.Cmd {
	tb.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestChildProcess$", "-test.v=false")
	cmd.Env = append(os.Environ(),
		"SPIN_CHILD="+role,
		"SPIN_CPU="+strconv.Itoa(cpu),
		"SPIN_PAIR_LEN="+strconv.Itoa(2*len(p.ping.mem)),
		"SPIN_DEADLINE="+strconv.FormatInt(time.Now().Add(60*time.Second).UnixNano(), 10))
	cmd.Env = append(cmd.Env, extra...)
	// A duplicate of the segment's fd: an *os.File owns (and at finalisation
	// closes) its descriptor, which must not be the Segment's.
	fd, err := unix.Dup(p.seg.Fd())
	if err != nil {
		tb.Fatal(err)
	}
	f := os.NewFile(uintptr(fd), "segment")
	defer f.Close()
	cmd.ExtraFiles = []*os.File{f}
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	return cmd
}

// TestChildProcess is the child's entry point; it does nothing in a normal run.
func TestChildProcess(t *testing.T) {
	role := os.Getenv("SPIN_CHILD")
	if role == "" {
		t.Skip("child process entry point")
	}
	var err error
	switch os.Getenv("SPIN_MSG") {
	case "8":
		err = childMain[msg8](role)
	case "56":
		err = childMain[msg56](role)
	default:
		err = childMain[msg64](role)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		os.Exit(3)
	}
	os.Exit(0)
}

func childMain[T seqd](role string) error {
	p, err := openPair[T](3)
	if err != nil {
		return err
	}
	if cpu, _ := strconv.Atoi(os.Getenv("SPIN_CPU")); cpu >= 0 {
		if _, err := affinity.Pin(cpu); err != nil {
			return err
		}
	}
	ns, _ := strconv.ParseInt(os.Getenv("SPIN_DEADLINE"), 10, 64)
	deadline := time.Unix(0, ns)
	switch role {
	case "echo": // ping → pong, until stopSeq
		var stop bool
		var reply T
		echo := func(m *T) { reply = *m; stop = *seqOf(m) == stopSeq }
		for i := 0; ; i++ {
			if p.ping.TryConsume(echo) {
				for !p.pong.TryPublish(&reply) {
					runtime.Gosched()
				}
				if stop {
					return nil
				}
			} else if i&0xffff == 0 && time.Now().After(deadline) {
				return fmt.Errorf("echo: deadline passed")
			}
		}
	case "claim": // hold ping's consumer side until killed
		for time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		return fmt.Errorf("claim: deadline passed")
	case "produce": // publish n messages on pong in random batches
		n, _ := strconv.ParseUint(os.Getenv("SPIN_N"), 10, 64)
		rng := rand.New(rand.NewPCG(uint64(os.Getpid()), 1))
		for seq := uint64(0); seq < n; {
			for range rng.IntN(40) {
				if seq == n {
					break
				}
				m := p.pong.Claim()
				if m == nil {
					Yield{}.Idle(0) // the parent may be on this CPU
					break
				}
				*seqOf(m) = seq
				if m64, ok := any(m).(*msg64); ok {
					m64.Stamp = int64(seq * 7)
				}
				p.pong.Commit()
				seq++
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("produce: deadline passed at %d", seq)
			}
		}
		return nil
	}
	return fmt.Errorf("unknown role %q", role)
}

// TestRingCrossProcess: a child process publishes in random batches while
// this one polls in random batch sizes; every message arrives once, in
// order, intact, across many wrap-arounds.
func TestRingCrossProcess(t *testing.T) {
	for _, proto := range protocols {
		t.Run("proto="+proto.String(), func(t *testing.T) {
			p := newPair[msg64](t, 32, proto)
			const n = 300_000
			cmd := startChild(t, p, "produce", -1, "SPIN_N="+strconv.Itoa(n))
			rng := rand.New(rand.NewPCG(9, uint64(proto)))
			deadline := time.Now().Add(60 * time.Second)
			var want uint64
			for want < n {
				if time.Now().After(deadline) {
					t.Fatalf("received %d of %d before the deadline", want, n)
				}
				got := p.pong.Poll(rng.IntN(50), func(m *msg64) {
					if m.Seq != want || m.Stamp != int64(want*7) {
						t.Fatalf("got seq %d stamp %d, want %d", m.Seq, m.Stamp, want)
					}
					want++
				})
				Yield{}.Idle(got) // the child may be on this CPU
				if err := p.pong.Err(); err != nil {
					t.Fatal(err)
				}
			}
			if err := cmd.Wait(); err != nil {
				t.Fatalf("child: %v", err)
			}
		})
	}
}

// BenchmarkRingRoundTrip: a message to a pinned echo process and back, one
// at a time; ns/op is one round trip. This is the figure that chose
// DefaultProtocol.
func BenchmarkRingRoundTrip(b *testing.B) {
	for _, proto := range protocols {
		b.Run("proto="+proto.String()+"/size=8", func(b *testing.B) { benchRoundTrip[msg8](b, proto, "8") })
		b.Run("proto="+proto.String()+"/size=56", func(b *testing.B) { benchRoundTrip[msg56](b, proto, "56") })
		b.Run("proto="+proto.String()+"/size=64", func(b *testing.B) { benchRoundTrip[msg64](b, proto, "64") })
	}
}

func benchRoundTrip[T seqd](b *testing.B, proto Protocol, size string) {
	ca, cb := needCPUs(b)
	p := newPair[T](b, 64, proto)
	cmd := startChild(b, p, "echo", cb, "SPIN_MSG="+size)
	undo, err := affinity.Pin(ca)
	if err != nil {
		b.Fatal(err)
	}
	defer undo()
	var m T
	var got uint64
	recv := func(r *T) { got = *seqOf(r) }
	deadline := time.Now().Add(60 * time.Second)
	roundTrip := func(seq uint64) {
		*seqOf(&m) = seq
		for !p.ping.TryPublish(&m) {
		}
		for i := 0; !p.pong.TryConsume(recv); i++ {
			if i&0xfffff == 0 && time.Now().After(deadline) {
				b.Fatal("echo child stopped answering")
			}
		}
	}
	for i := range 20_000 { // warm up
		roundTrip(uint64(i))
	}
	b.ReportAllocs()
	i := uint64(0)
	for b.Loop() {
		roundTrip(i)
		i++
	}
	b.StopTimer()
	roundTrip(stopSeq)
	if err := cmd.Wait(); err != nil || got != stopSeq {
		b.Fatalf("echo child: %v (last %d)", err, got)
	}
}
