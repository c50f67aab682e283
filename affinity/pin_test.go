//go:build linux

package affinity

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// lockCounter replaces the LockOSThread/UnlockOSThread hooks for one test
// and reports the net lock count Pin left behind. The real calls still run.
func lockCounter(t *testing.T) *int {
	t.Helper()
	n := new(int)
	lock, unlock := lockOSThread, unlockOSThread
	lockOSThread = func() { *n++; lock() }
	unlockOSThread = func() { *n--; unlock() }
	t.Cleanup(func() { lockOSThread, unlockOSThread = lock, unlock })
	return n
}

// onLockedThread runs f on a goroutine locked to its thread for the whole
// call, so that masks read before and after belong to the same thread; the
// thread is discarded afterwards (the goroutine exits locked), so nothing a
// failing test leaves on it can leak to other tests.
func onLockedThread(f func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread()
		f()
	}()
	<-done
}

func TestPin(t *testing.T) {
	allowed, err := Allowed()
	if err != nil {
		t.Fatal(err)
	}
	if len(allowed) == 0 {
		t.Fatal("Allowed() is empty")
	}

	t.Run("each_allowed_cpu", func(t *testing.T) {
		for _, cpu := range allowed {
			onLockedThread(func() {
				before, _ := Allowed()
				locks := lockCounter(t)
				undo, err := Pin(cpu)
				if err != nil {
					t.Errorf("Pin(%d): %v", cpu, err)
					return
				}
				if got := CurrentCPU(); got != cpu {
					t.Errorf("after Pin(%d) CurrentCPU() = %d", cpu, got)
				}
				if got, _ := Allowed(); !slices.Equal(got, CPUSet{cpu}) {
					t.Errorf("after Pin(%d) Allowed() = %s", cpu, got)
				}
				if *locks != 1 {
					t.Errorf("Pin left lock count %d, want 1", *locks)
				}
				undo()
				undo() // a second call does nothing
				if got, _ := Allowed(); !slices.Equal(got, before) {
					t.Errorf("after undo Allowed() = %s, want %s", got, before)
				}
				if *locks != 0 {
					t.Errorf("undo left lock count %d, want 0", *locks)
				}
			})
		}
	})

	t.Run("cpu_outside_allowed_set_is_refused", func(t *testing.T) {
		if len(allowed) < 2 {
			t.Skip("needs 2 allowed CPUs: pins to one and asks for another")
		}
		onLockedThread(func() {
			undo, err := Pin(allowed[0])
			if err != nil {
				t.Error(err)
				return
			}
			defer undo()
			locks := lockCounter(t)
			other := allowed[1]
			undo2, err := Pin(other)
			if !errors.Is(err, ErrCPUNotAllowed) || undo2 != nil {
				t.Errorf("Pin(%d) while pinned to %d: undo %v, err %v", other, allowed[0], undo2 != nil, err)
				return
			}
			if want := fmt.Sprintf("cpu=%d (allowed %d)", other, allowed[0]); !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not say %q", err, want)
			}
			if *locks != 0 {
				t.Errorf("refused Pin left lock count %d, want 0", *locks)
			}
			if got := CurrentCPU(); got != allowed[0] {
				t.Errorf("CurrentCPU() = %d after a refused Pin, want %d", got, allowed[0])
			}
		})
	})

	t.Run("cpu_not_on_host_is_refused", func(t *testing.T) {
		cpu := MaxCPU - 1
		if allowed.Contains(cpu) {
			t.Skipf("cpu %d is allowed here", cpu)
		}
		locks := lockCounter(t)
		if _, err := Pin(cpu); !errors.Is(err, ErrCPUNotAllowed) || !strings.Contains(err.Error(), fmt.Sprintf("cpu=%d", cpu)) {
			t.Errorf("Pin(%d) err = %v", cpu, err)
		}
		if *locks != 0 {
			t.Errorf("lock count %d, want 0", *locks)
		}
	})
}

// TestPinRefusals: a CPU outside the mask or the valid range is refused
// with the lock count unchanged; nested pins unwind in order.
func TestPinRefusals(t *testing.T) {
	allowed, err := Allowed()
	if err != nil || len(allowed) == 0 {
		t.Fatalf("Allowed() = %s, %v", allowed, err)
	}
	t.Run("invalid_cpu", func(t *testing.T) {
		locks := lockCounter(t)
		for _, cpu := range []int{-1, math.MinInt, MaxCPU, MaxCPU + 1, math.MaxInt} {
			undo, err := Pin(cpu)
			if !errors.Is(err, ErrInvalidCPU) || undo != nil || !strings.Contains(err.Error(), fmt.Sprintf("cpu=%d", cpu)) {
				t.Errorf("Pin(%d) = %v, %v", cpu, undo != nil, err)
			}
		}
		if *locks != 0 {
			t.Errorf("lock count %d, want 0", *locks)
		}
	})

	t.Run("nested_pins_unwind", func(t *testing.T) {
		onLockedThread(func() {
			before, _ := Allowed()
			locks := lockCounter(t)
			undo1, err := Pin(allowed[0])
			if err != nil {
				t.Error(err)
				return
			}
			undo2, err := Pin(allowed[0])
			if err != nil {
				t.Error(err)
				return
			}
			undo2()
			if got, _ := Allowed(); !slices.Equal(got, CPUSet{allowed[0]}) || *locks != 1 {
				t.Errorf("after inner undo: Allowed %s, locks %d", got, *locks)
			}
			undo1()
			if got, _ := Allowed(); !slices.Equal(got, before) || *locks != 0 {
				t.Errorf("after outer undo: Allowed %s, locks %d", got, *locks)
			}
		})
	})
}

func TestPinSyscallFailures(t *testing.T) {
	allowed, err := Allowed()
	if err != nil {
		t.Fatal(err)
	}
	cpu := allowed[0]
	realGet, realSet := getAffinity, setAffinity
	t.Cleanup(func() { getAffinity, setAffinity = realGet, realSet })

	t.Run("getaffinity_fails", func(t *testing.T) {
		locks := lockCounter(t)
		getAffinity = func(unix.CPUSetDynamic) error { return syscall.EPERM }
		defer func() { getAffinity = realGet }()
		if _, err := Pin(cpu); !errors.Is(err, syscall.EPERM) || !strings.Contains(err.Error(), "sched_getaffinity") {
			t.Errorf("Pin err = %v", err)
		}
		if _, err := Allowed(); !errors.Is(err, syscall.EPERM) {
			t.Errorf("Allowed err = %v", err)
		}
		if *locks != 0 {
			t.Errorf("lock count %d", *locks)
		}
	})

	t.Run("setaffinity_fails", func(t *testing.T) {
		locks := lockCounter(t)
		setAffinity = func(unix.CPUSetDynamic) error { return syscall.EINVAL }
		defer func() { setAffinity = realSet }()
		if _, err := Pin(cpu); !errors.Is(err, syscall.EINVAL) || !strings.Contains(err.Error(), fmt.Sprintf("cpu=%d: sched_setaffinity", cpu)) {
			t.Errorf("Pin err = %v", err)
		}
		if *locks != 0 {
			t.Errorf("lock count %d", *locks)
		}
	})

	t.Run("restore_fails_keeps_thread_locked", func(t *testing.T) {
		onLockedThread(func() {
			locks := lockCounter(t)
			undo, err := Pin(cpu)
			if err != nil {
				t.Error(err)
				return
			}
			setAffinity = func(unix.CPUSetDynamic) error { return syscall.EINVAL }
			undo()
			setAffinity = realSet
			if *locks != 1 {
				t.Errorf("lock count %d after a failed restore, want 1 (thread stays locked)", *locks)
			}
			// The goroutine exits locked: the runtime discards the pinned thread.
		})
	})

	t.Run("getcpu_fails", func(t *testing.T) {
		realCPU := getcpu
		getcpu = func() (int, error) { return 0, syscall.ENOSYS }
		defer func() { getcpu = realCPU }()
		if got := CurrentCPU(); got != -1 {
			t.Errorf("CurrentCPU() = %d, want -1", got)
		}
	})
}

func TestCurrentCPU(t *testing.T) {
	allowed, err := Allowed()
	if err != nil {
		t.Fatal(err)
	}
	if c := CurrentCPU(); !allowed.Contains(c) {
		t.Errorf("CurrentCPU() = %d, not in allowed %s", c, allowed)
	}
}

func TestMaskToSet(t *testing.T) {
	m := newMask()
	for _, c := range []int{0, 63, 64, 1023, 1024, MaxCPU - 1} {
		m.Set(c)
	}
	if got := maskToSet(m); !slices.Equal(got, CPUSet{0, 63, 64, 1023, 1024, MaxCPU - 1}) {
		t.Errorf("maskToSet = %v", got)
	}
}

const childEnv = "AFFINITY_TEST_CHILD"

// TestPinDoesNotLeakMaskToNewThreads checks the claim in Pin's code: in a
// fresh process whose first LockOSThread is Pin's, threads the runtime
// creates while a goroutine is pinned keep the process's wide mask. It runs
// in a child process (this test binary re-executed), because in this one
// the template thread already exists.
func TestPinDoesNotLeakMaskToNewThreads(t *testing.T) {
	if os.Getenv(childEnv) == "1" {
		pinnedChild()
		return
	}
	allowed, err := Allowed()
	if err != nil {
		t.Fatal(err)
	}
	if len(allowed) < 2 {
		t.Skip("needs 2 allowed CPUs: a pinned mask must differ from the process's")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestPinDoesNotLeakMaskToNewThreads$", "-test.count=1")
	cmd.Env = append(os.Environ(), childEnv+"=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	var pinned string
	var threads []string
	for line := range strings.Lines(string(out)) {
		if s, ok := strings.CutPrefix(line, "pinned "); ok {
			pinned = strings.TrimSpace(s)
		}
		if s, ok := strings.CutPrefix(line, "thread "); ok {
			threads = append(threads, strings.TrimSpace(s))
		}
	}
	t.Logf("child: pinned to %s; new threads: %q", pinned, threads)
	if pinned != fmt.Sprint(allowed[0]) || len(threads) == 0 {
		t.Fatalf("child output unexpected:\n%s", out)
	}
	for _, m := range threads {
		if m != allowed.String() {
			t.Errorf("a thread created while pinned has mask %s, want the process's %s", m, allowed)
		}
	}
}

// pinnedChild pins one goroutine, then makes the runtime start new threads
// (goroutines that lock their thread need one each) and prints their masks.
func pinnedChild() {
	allowed, _ := Allowed()
	pinned := make(chan struct{})
	release := make(chan struct{})
	go func() {
		if _, err := Pin(allowed[0]); err != nil {
			fmt.Println("pin error", err)
			os.Exit(1)
		}
		m, _ := Allowed()
		fmt.Println("pinned", m)
		close(pinned)
		<-release // stay pinned while the other threads start
	}()
	<-pinned
	const n = 4
	masks := make(chan CPUSet, n)
	for range n {
		go func() {
			runtime.LockOSThread() // never unlocked: each gets its own thread
			m, _ := Allowed()
			masks <- m
			<-release
		}()
	}
	for range n {
		fmt.Println("thread", <-masks)
	}
	close(release)
}

// PinThread pins like Pin, fails like Pin, and allocates nothing.
func TestPinThread(t *testing.T) {
	allowed, err := Allowed()
	if err != nil {
		t.Fatal(err)
	}
	cpu := allowed[len(allowed)-1]
	onLockedThread(func() {
		n := lockCounter(t)
		if err := PinThread(cpu); err != nil {
			t.Error(err)
			return
		}
		if *n != 1 {
			t.Errorf("lock count %d after PinThread, want 1", *n)
		}
		if got, _ := Allowed(); !slices.Equal(got, CPUSet{cpu}) {
			t.Errorf("after PinThread(%d) the thread may run on %v", cpu, got)
		}
		if c := CurrentCPU(); c != cpu {
			t.Errorf("running on CPU %d after PinThread(%d)", c, cpu)
		}
		if a := testing.AllocsPerRun(20, func() { PinThread(cpu) }); a != 0 {
			t.Errorf("PinThread allocates %v times", a)
		}
	})
	onLockedThread(func() {
		n := lockCounter(t)
		before, _ := Allowed()
		for _, bad := range []int{-1, MaxCPU} {
			if err := PinThread(bad); !errors.Is(err, ErrInvalidCPU) {
				t.Errorf("PinThread(%d): %v, want ErrInvalidCPU", bad, err)
			}
		}
		if err := PinThread(cpu); err != nil {
			t.Error(err)
			return
		}
		other := -1
		for c := range MaxCPU {
			if !slices.Contains(before, c) {
				other = c
				break
			}
		}
		if err := PinThread(other); !errors.Is(err, ErrCPUNotAllowed) || !strings.Contains(err.Error(), fmt.Sprint(other)) {
			t.Errorf("PinThread(%d) outside the mask: %v, want ErrCPUNotAllowed naming it", other, err)
		}
		if *n != 1 {
			t.Errorf("lock count %d after one PinThread and three failures, want 1", *n)
		}
	})
}
