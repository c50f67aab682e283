package asm

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// twoCPUs returns two CPUs this process may run on, or skips tb when there
// are fewer than two.
func twoCPUs(tb testing.TB) (a, b int) {
	tb.Helper()
	if runtime.NumCPU() < 2 {
		tb.Skipf("needs 2 CPUs to run two spinning threads; runtime.NumCPU() = %d", runtime.NumCPU())
	}
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		tb.Fatalf("sched_getaffinity: %v", err)
	}
	var cpus []int
	for c := 0; c < len(set)*64 && len(cpus) < 2; c++ {
		if set.IsSet(c) {
			cpus = append(cpus, c)
		}
	}
	if len(cpus) < 2 {
		tb.Skipf("needs 2 CPUs in the affinity mask, have %v", cpus)
	}
	return cpus[0], cpus[1]
}

// pinThread locks the calling goroutine to its thread and the thread to
// cpu. The returned function restores the thread's previous mask and
// unlocks it. Safe to call from any goroutine.
func pinThread(cpu int) (unpin func(), err error) {
	runtime.LockOSThread()
	var old, set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &old); err != nil {
		runtime.UnlockOSThread()
		return nil, fmt.Errorf("sched_getaffinity: %w", err)
	}
	set.Set(cpu)
	if err := unix.SchedSetaffinity(0, &set); err != nil {
		runtime.UnlockOSThread()
		return nil, fmt.Errorf("sched_setaffinity(cpu %d): %w", cpu, err)
	}
	return func() {
		_ = unix.SchedSetaffinity(0, &old)
		runtime.UnlockOSThread()
	}, nil
}

// pin is pinThread for the test's own goroutine: it fails tb on error.
func pin(tb testing.TB, cpu int) (unpin func()) {
	tb.Helper()
	unpin, err := pinThread(cpu)
	if err != nil {
		tb.Fatal(err)
	}
	return unpin
}

// mmapShared returns n bytes of MAP_SHARED anonymous memory (what a memfd
// segment looks like to the copying code), unmapped at the end of the test.
func mmapShared(tb testing.TB, n int) []byte {
	tb.Helper()
	m, err := unix.Mmap(-1, 0, n, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_ANONYMOUS)
	if err != nil {
		tb.Fatalf("mmap %d bytes: %v", n, err)
	}
	tb.Cleanup(func() { _ = unix.Munmap(m) })
	for i := range m { // fault every page in before any timing
		m[i] = 0
	}
	return m
}

// spinBound is how long any spin loop in these tests may wait for its
// partner before it gives up.
const spinBound = 20 * time.Second

// expired reports, every 2^16 calls counted in *n, whether start+spinBound
// has passed: a cheap bound for spin loops.
func expired(n *uint64, start int64) bool {
	*n++
	return *n&0xffff == 0 && nanotime()-start > int64(spinBound)
}

// orderingRounds is how many messages an ordering test passes between
// CPUs: 200 000, or 20 000 with -short.
func orderingRounds() uint64 {
	if testing.Short() {
		return 20000
	}
	return 200000
}

// crossCPU runs write on one pinned CPU while check, pinned to the other,
// is called until it says done (failing the test if it also returns a
// message) or spinBound passes.
func crossCPU(t *testing.T, check func() (msg string, done bool), write func()) {
	cpuA, cpuB := twoCPUs(t)
	res := make(chan string, 1)
	go func() {
		unpin, err := pinThread(cpuB)
		if err != nil {
			res <- err.Error()
			return
		}
		defer unpin()
		var spins uint64
		start := nanotime()
		for {
			if msg, done := check(); done {
				res <- msg
				return
			}
			if expired(&spins, start) {
				res <- "timed out"
				return
			}
		}
	}()
	func() {
		defer pin(t, cpuA)()
		write()
	}()
	if msg := <-res; msg != "" {
		t.Fatal(msg)
	}
}
