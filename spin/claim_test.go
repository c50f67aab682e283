package spin

import (
	"errors"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// consumerEnds opens one kind of region (a Ring or a Log) the ways a
// consumer test needs: format it, open it as consumer or as producer, and
// claim the creator's handle.
type consumerEnds struct {
	name     string
	region   func(t *testing.T) []byte
	format   func(b []byte) (claimer, error)
	open     func(b []byte) (claimer, error)
	producer func(b []byte) (claimer, error)
}

type claimer interface {
	ClaimConsumer() error
	Close()
}

var ends = []consumerEnds{
	{
		name: "ring",
		region: func(t *testing.T) []byte {
			n, _, _ := RingLength[msg8](4, InSlot)
			return region(t, n)
		},
		format:   func(b []byte) (claimer, error) { return NewRing[msg8](b, RingOptions{Capacity: 4}) },
		open:     func(b []byte) (claimer, error) { return OpenRing[msg8](b) },
		producer: func(b []byte) (claimer, error) { return OpenRingProducer[msg8](b) },
	},
	{
		name: "log",
		region: func(t *testing.T) []byte {
			n, _ := LogLength(256)
			return region(t, n)
		},
		format:   func(b []byte) (claimer, error) { return NewLog(b, 256) },
		open:     func(b []byte) (claimer, error) { return OpenLog(b) },
		producer: func(b []byte) (claimer, error) { return OpenLogProducer(b) },
	},
}

// TestSecondConsumerRefused: one consumer at a time, in this process too;
// producers open freely; Close hands the consumer side on.
func TestSecondConsumerRefused(t *testing.T) {
	self := "pid " + strconv.Itoa(os.Getpid()) + " (this process) holds it"
	for _, e := range ends {
		t.Run(e.name, func(t *testing.T) {
			b := e.region(t)
			creator, err := e.format(b)
			if err != nil {
				t.Fatal(err)
			}
			first, err := e.open(b)
			if err != nil {
				t.Fatal(err)
			}
			_, err = e.open(b)
			if !errors.Is(err, ErrConsumerTaken) || !strings.Contains(err.Error(), self) {
				t.Fatalf("second consumer: %v", err)
			}
			if err := creator.ClaimConsumer(); !errors.Is(err, ErrConsumerTaken) {
				t.Fatalf("creator's claim: %v", err)
			}
			if _, err := e.producer(b); err != nil {
				t.Fatalf("producer: %v", err)
			}
			if err := first.ClaimConsumer(); err != nil {
				t.Fatalf("a claim held is claimed again: %v", err)
			}
			first.Close()
			first.Close() // idempotent
			if err := creator.ClaimConsumer(); err != nil {
				t.Fatalf("after Close: %v", err)
			}
			if _, err := e.open(b); !errors.Is(err, ErrConsumerTaken) {
				t.Fatalf("open while the creator consumes: %v", err)
			}
			creator.Close()
			if _, err := e.open(b); err != nil {
				t.Fatalf("after the creator's Close: %v", err)
			}
		})
	}
}

// TestDeadConsumerTakenOver writes claims a peer could leave: those of a
// process that no longer runs are taken over, a live one is refused.
func TestDeadConsumerTakenOver(t *testing.T) {
	ppid := os.Getppid()
	_, pstart, err := procStat(ppid)
	if err != nil || pstart == 0 {
		t.Skipf("no start time for the parent process (%v)", err)
	}
	for _, c := range []struct {
		name  string
		claim uint64
		live  bool
	}{
		{"pid_zero", makeClaim(0, 12345), false},
		{"pid_out_of_range", makeClaim(^uint32(0), 0), false},
		{"pid_reused", makeClaim(uint32(ppid), pstart+1), false},
		{"live_process", makeClaim(uint32(ppid), pstart), true},
		{"live_process_start_unknown", makeClaim(uint32(ppid), 0), true},
	} {
		for _, e := range ends {
			t.Run(c.name+"/"+e.name, func(t *testing.T) {
				b := e.region(t)
				if _, err := e.format(b); err != nil {
					t.Fatal(err)
				}
				atomic.StoreUint64(claimWord(b), c.claim)
				_, err := e.open(b)
				if !c.live {
					if err != nil {
						t.Fatalf("dead claim not taken over: %v", err)
					}
					if got := atomic.LoadUint64(claimWord(b)); got != selfClaim() {
						t.Fatalf("claim word %#x, want ours %#x", got, selfClaim())
					}
					return
				}
				want := "pid " + strconv.Itoa(ppid) + " holds it and is running"
				if !errors.Is(err, ErrConsumerTaken) || !strings.Contains(err.Error(), want) {
					t.Fatalf("live claim: %v", err)
				}
			})
		}
	}
}

// TestDeadConsumerProcess: a child process opens a ring as its consumer;
// while it runs, the ring refuses a second consumer naming its pid; once it
// is killed (a zombie, then reaped) its claim is taken over.
func TestDeadConsumerProcess(t *testing.T) {
	p := newPair[msg8](t, 4, InSlot)
	cmd := startChild(t, p, "claim", -1, "SPIN_MSG=8")
	pid := uint32(cmd.Process.Pid)
	word := claimWord(p.ping.mem)
	for deadline := time.Now().Add(30 * time.Second); uint32(atomic.LoadUint64(word)) != pid; {
		if time.Now().After(deadline) {
			t.Fatalf("child never claimed ping (claim word %#x)", atomic.LoadUint64(word))
		}
		time.Sleep(time.Millisecond)
	}
	_, err := OpenRing[msg8](p.ping.mem)
	if want := "pid " + strconv.Itoa(int(pid)) + " holds it and is running"; !errors.Is(err, ErrConsumerTaken) || !strings.Contains(err.Error(), want) {
		t.Fatalf("while the child runs: %v", err)
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	// Unreaped, the child is a zombie: kill(pid, 0) still succeeds.
	for deadline := time.Now().Add(30 * time.Second); ; {
		if state, _, err := procStat(int(pid)); err == nil && state == 'Z' {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("child did not die")
		}
		time.Sleep(time.Millisecond)
	}
	r, err := OpenRing[msg8](p.ping.mem)
	if err != nil {
		t.Fatalf("a zombie's claim: %v", err)
	}
	r.Close()
	cmd.Wait()
	if _, err := OpenRing[msg8](p.ping.mem); err != nil {
		t.Fatalf("a reaped child's claim: %v", err)
	}
}
