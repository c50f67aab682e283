package main

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spinwire/spinwire/affinity"
)

// serveInProcess opens transport name and runs its peer side in a
// goroutine of this process over the files a real peer would inherit, so
// coverage counts both sides.
func serveInProcess(t *testing.T, name string, c *config) (end, <-chan error, error) {
	t.Helper()
	tr := transports[name]
	e, files, err := tr.open(c)
	if err != nil {
		return nil, nil, err
	}
	done := make(chan error, 1)
	go func() {
		err := tr.serve(c, files)
		for _, f := range files {
			f.Close()
		}
		done <- err
	}()
	return e, done, nil
}

// unsupported lists the transport/mode pairs that have no such mode.
var unsupported = map[string]bool{
	"raw/throughput": true, "eventfd/throughput": true, "futex/throughput": true, "uds-net/rate": true,
}

// TestTransports/<name>/<mode>: every transport carries a round of every
// mode it offers in process (both ends here), and says why it does not
// offer the others.
func TestTransports(t *testing.T) {
	for _, name := range transportNames {
		for _, mode := range []string{"latency", "rate", "throughput"} {
			t.Run(name+"/"+mode, func(t *testing.T) {
				c := testConfig(mode)
				c.Transports = []string{name}
				n := c.N / c.Rounds
				e, done, err := serveInProcess(t, name, c)
				var ns errNotSupported
				if errors.As(err, &ns) {
					if !unsupported[name+"/"+mode] {
						t.Fatalf("unexpectedly unsupported: %v", err)
					}
					if !strings.Contains(err.Error(), ": ") {
						t.Errorf("no reason given: %v", err)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				if unsupported[name+"/"+mode] {
					t.Fatalf("%s/%s should be unsupported", name, mode)
				}
				st := &roundState{}
				s, err := drive(c, e, n, 0, st)
				if err != nil {
					t.Fatal(err)
				}
				if err := e.stop(); err != nil {
					t.Fatalf("stop: %v", err)
				}
				select {
				case err := <-done:
					if err != nil {
						t.Fatalf("peer: %v", err)
					}
				case <-time.After(10 * time.Second):
					t.Fatal("peer did not return")
				}
				if s.n != n || s.elapsed == 0 || st.done.Load() != int64(n) {
					t.Errorf("n %d (want %d), elapsed %d, done %d", s.n, n, s.elapsed, st.done.Load())
				}
				if mode != "throughput" && s.hist.TotalCount() != int64(n) {
					t.Errorf("%d samples, want %d", s.hist.TotalCount(), n)
				}
				if s.cpus[0] < 0 || s.cpus[1] < 0 {
					t.Errorf("parent CPUs not seen: %v", s.cpus)
				}
				if mode == "rate" && s.sendSpan == 0 {
					t.Error("no send span")
				}
				if d := peerDrains.Load(); mode == "throughput" && strings.HasPrefix(name, "spinwire") && (d == 0 || d > uint64(n)) {
					t.Errorf("the consumer reported %d polls that took something, want 1…%d", d, n)
				}
				o := transports[name].options(c)
				if o.Path == "" || o.Wait == "" {
					t.Errorf("options %+v", o)
				}
			})
		}
	}
}

// TestTransports_sizes: spinwire's rings (every slot size, both
// protocols) and logs (above a slot, up to 64 KiB, and a 64-byte stream
// under -protocol log), and the byte streams
// at sizes the kernel splits.
func TestTransports_sizes(t *testing.T) {
	type tc struct {
		name     string
		size     int
		protocol string
		mode     string
	}
	var cases []tc
	for size := 8; size <= 64; size += 8 {
		cases = append(cases, tc{"spinwire", size, "", "latency"})
	}
	cases = append(cases,
		tc{"spinwire", 64, "cursors", "latency"}, tc{"spinwire", 16, "cursors", "throughput"}, tc{"spinwire", 64, "log", "throughput"},
		tc{"spinwire", 100, "", "latency"}, tc{"spinwire", 100, "", "throughput"}, tc{"spinwire-park", 1000, "", "rate"},
		tc{"spinwire", 65536, "", "rate"}, tc{"spinwire-backoff", 65536, "", "throughput"},
		tc{"pipe", 65536, "", "latency"}, tc{"pipe", 9000, "", "rate"}, tc{"uds", 65536, "", "rate"}, tc{"tcp", 65536, "", "throughput"},
		tc{"uds-net", 20000, "", "throughput"}, tc{"uds-net", 8, "", "latency"})
	for _, k := range cases {
		t.Run(fmt.Sprintf("%s/%d/%s/%s", k.name, k.size, k.protocol, k.mode), func(t *testing.T) {
			c := testConfig(k.mode)
			c.Size, c.Protocol, c.N, c.Warmup = k.size, k.protocol, 100, 10
			e, done, err := serveInProcess(t, k.name, c)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := drive(c, e, c.N, 0, &roundState{}); err != nil {
				t.Fatal(err)
			}
			if err := e.stop(); err != nil {
				t.Fatal(err)
			}
			if err := <-done; err != nil {
				t.Fatalf("peer: %v", err)
			}
			o := transports[k.name].options(c)
			if strings.HasPrefix(k.name, "spinwire") && (k.size > 64 || k.protocol == "log") != strings.Contains(o.Path, "spin.Log") {
				t.Errorf("size %d travels as %q", k.size, o.Path)
			}
		})
	}
}

// TestDrive_time_budget: a round run by time (-duration) or cut by
// -limit stops after its budget, and a cut round says so.
func TestDrive_time_budget(t *testing.T) {
	for _, mode := range []string{"latency", "rate"} {
		c := testConfig(mode)
		c.Rate = 2000
		round := func(n int, budget time.Duration) sample {
			e, done, err := serveInProcess(t, "uds", c)
			if err != nil {
				t.Fatal(err)
			}
			s, err := drive(c, e, n, budget, &roundState{})
			if err != nil {
				t.Fatal(err)
			}
			e.stop()
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			return s
		}
		start := time.Now()
		s := round(0, 50*time.Millisecond)
		if took := time.Since(start); took > 5*time.Second || s.n < 10 || s.short {
			t.Errorf("%s by time: %v, n %d, short %v", mode, took, s.n, s.short)
		}
		s = round(1_000_000, 30*time.Millisecond)
		if !s.short || s.n >= 1_000_000 || s.hist.TotalCount() != int64(s.n) {
			t.Errorf("%s with -limit: short %v n %d samples %d", mode, s.short, s.n, s.hist.TotalCount())
		}
	}
}

// TestAbort: a blocked round trip whose peer is gone ends with an error
// when the round's watchdog aborts it.
func TestAbort(t *testing.T) {
	for _, name := range []string{"spinwire", "spinwire-park", "raw", "eventfd", "futex", "uds-net"} {
		t.Run(name, func(t *testing.T) {
			c := testConfig("latency")
			e, files, err := transports[name].open(c)
			if err != nil {
				t.Fatal(err)
			}
			defer func() {
				for _, f := range files {
					f.Close()
				}
			}()
			errc := make(chan error, 1)
			go func() { errc <- e.roundTrip(1) }() // nobody echoes
			time.Sleep(20 * time.Millisecond)
			e.(aborter).abort()
			select {
			case err := <-errc:
				if err == nil {
					t.Fatal("round trip succeeded with no peer")
				}
			case <-time.After(5 * time.Second):
				t.Fatal("abort did not end the round trip")
			}
		})
	}
}

// TestPeerErrors: a peer given the wrong files says so.
func TestPeerErrors(t *testing.T) {
	c := testConfig("latency")
	for _, name := range transportNames {
		if err := transports[name].serve(c, nil); err == nil {
			t.Errorf("%s served without files", name)
		}
	}
	f, _ := os.Open(os.DevNull)
	defer f.Close()
	for _, name := range []string{"spinwire", "raw", "futex"} {
		if err := transports[name].serve(c, []*os.File{f}); err == nil {
			t.Errorf("%s served a segment that is /dev/null", name)
		}
	}
	c.Size = 100
	if err := transports["spinwire"].serve(c, []*os.File{f}); err == nil {
		t.Error("spinwire logs served /dev/null")
	}
}

// TestPinProcess: every thread is confined to the CPU and the undo gives
// each its mask back.
func TestPinProcess(t *testing.T) {
	allowed, err := affinity.Allowed()
	if err != nil || len(allowed) < 2 {
		t.Skip("needs two allowed CPUs")
	}
	cpu := allowed[len(allowed)-1]
	undo, err := pinProcess(cpu)
	if err != nil {
		t.Fatal(err)
	}
	for _, tid := range tasks() {
		if m, err := threadMask(tid); err == nil && !slices.Equal(m, []int{cpu}) {
			t.Errorf("thread %d on %v", tid, m)
		}
	}
	undo()
	if m, _ := threadMask(os.Getpid()); len(m) < 2 {
		t.Errorf("main thread still on %v", m)
	}
	if _, err := pinProcess(affinity.MaxCPU - 1); err == nil {
		t.Error("pinned to a CPU that is not allowed")
	}
	if undo, err := pinProcess(-1); err != nil {
		t.Error(err)
	} else {
		undo()
	}
}

// TestAwaitAck: a stream's acknowledgement that arrives while the peer's
// exit aborts the wait still counts; without one the wait fails.
func TestAwaitAck(t *testing.T) {
	c := testConfig("throughput")
	w := newWaiter(c, producerIdler("spin"))
	w.aborted.Store(true) // the peer has exited
	polls := 0
	late := func() bool { polls++; return polls == 2 } // the ack lands after the first look
	if err := awaitAck(&w, late); err != nil || polls != 2 {
		t.Fatalf("ack that came before the exit: %v after %d polls", err, polls)
	}
	if err := awaitAck(&w, func() bool { return false }); !errors.Is(err, errTimeout) {
		t.Fatalf("no ack: %v, want errTimeout", err)
	}
}
