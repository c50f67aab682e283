package affinity

import (
	"runtime"
	"unsafe"

	"github.com/spinwire/spinwire/internal/msg"

	"golang.org/x/sys/unix"
)

// Hooks that tests override to reach the failure paths of Pin and to count
// LockOSThread/UnlockOSThread calls. Production code never changes them.
var (
	lockOSThread   = runtime.LockOSThread
	unlockOSThread = runtime.UnlockOSThread
	getAffinity    = func(set unix.CPUSetDynamic) error { return unix.SchedGetaffinityDynamic(0, set) }
	setAffinity    = func(set unix.CPUSetDynamic) error { return unix.SchedSetaffinityDynamic(0, set) }
	getcpu         = sysGetcpu
)

// newMask returns a kernel CPU mask able to hold every CPU < MaxCPU (1 KiB).
// The kernel accepts any mask at least nr_cpu_ids bits long, and nr_cpu_ids
// never exceeds MaxCPU, so this size works on every host where unix.CPUSet
// (1024 bits) would fail with EINVAL.
func newMask() unix.CPUSetDynamic { return unix.NewCPUSet(MaxCPU) }

func maskToSet(m unix.CPUSetDynamic) CPUSet {
	var out CPUSet
	for cpu := range MaxCPU {
		if m.IsSet(cpu) {
			out = append(out, cpu)
		}
	}
	return out
}

// Pin locks the calling goroutine to its OS thread (runtime.LockOSThread)
// and restricts that thread to cpu with sched_setaffinity. Cost: two
// syscalls (sched_getaffinity to save the current mask, sched_setaffinity).
//
// A cpu outside [0, MaxCPU) gives an error wrapping ErrInvalidCPU; a cpu
// that is not in the thread's current affinity mask (see Allowed) gives one
// wrapping ErrCPUNotAllowed. Both name the cpu. On any error the goroutine's
// lock count is as it was before the call (a caller that had locked the
// thread itself stays locked) and the mask is unchanged.
//
// undo restores the saved mask and calls runtime.UnlockOSThread once; it
// costs one syscall, must run on the goroutine that called Pin (defer it),
// and does nothing when called again. Pins nest: each undo restores the mask
// its Pin saw. If the saved mask can no longer be set (the cgroup cpuset
// shrank meanwhile), undo leaves the goroutine locked so the still-pinned
// thread is never handed to other goroutines; the runtime discards it when
// the goroutine exits.
//
// A spinner pins once and never unlocks (see docs/go-runtime.md: a thread
// that returns to the pool keeps its mask); undo is for tests and
// short-lived uses such as measuring on one CPU.
func Pin(cpu int) (undo func(), err error) {
	if cpu < 0 || cpu >= MaxCPU {
		return nil, msg.Errorf("%w: cpu=%d (want 0…%d)", ErrInvalidCPU, cpu, MaxCPU-1)
	}
	// Lock before narrowing the mask: the process's first LockOSThread starts
	// the runtime's template thread (runtime/proc.go, LockOSThread →
	// startTemplateThread) by cloning the calling thread, and every thread
	// the runtime creates later is cloned from that one. Locking first means
	// it inherits the wide mask, never the pinned one.
	lockOSThread()
	old := newMask()
	if err := getAffinity(old); err != nil {
		unlockOSThread()
		return nil, msg.Errorf("affinity: pin cpu=%d: sched_getaffinity: %w", cpu, err)
	}
	if !old.IsSet(cpu) {
		unlockOSThread()
		return nil, msg.Errorf("%w: cpu=%d (allowed %s)", ErrCPUNotAllowed, cpu, maskToSet(old))
	}
	one := newMask()
	one.Set(cpu)
	if err := setAffinity(one); err != nil {
		unlockOSThread()
		return nil, msg.Errorf("affinity: pin cpu=%d: sched_setaffinity: %w", cpu, err)
	}
	done := false
	return func() {
		if done {
			return
		}
		done = true
		if setAffinity(old) != nil {
			return // stay locked: see the doc comment
		}
		unlockOSThread()
	}, nil
}

// PinThread is Pin for a thread that stays pinned until it exits, as a
// spinner's does (agent.Agent): it locks the calling goroutine to its OS
// thread and restricts the thread to cpu, with no undo and no allocation —
// its masks live on the stack. A dedicated spinner's P never gives back
// the partly used heap spans that allocations on it take, so its set-up
// allocates nothing. Cost: two raw syscalls (sched_getaffinity,
// sched_setaffinity). Errors as Pin's (ErrInvalidCPU, ErrCPUNotAllowed,
// naming the cpu); on any error the lock count and the mask are unchanged.
func PinThread(cpu int) error {
	if cpu < 0 || cpu >= MaxCPU {
		return msg.Errorf("%w: cpu=%d (want 0…%d)", ErrInvalidCPU, cpu, MaxCPU-1)
	}
	lockOSThread() // first, as in Pin: the template thread keeps the wide mask
	var mask cpuBitmap
	size := unsafe.Sizeof(mask)
	if _, _, e := unix.RawSyscall(unix.SYS_SCHED_GETAFFINITY, 0, size, uintptr(unsafe.Pointer(&mask[0]))); e != 0 {
		unlockOSThread()
		return msg.Errorf("affinity: pin cpu=%d: sched_getaffinity: %w", cpu, e)
	}
	bit := uint64(1) << (uint(cpu) % 64)
	if mask[cpu/64]&bit == 0 {
		unlockOSThread()
		return msg.Errorf("%w: cpu=%d (allowed %s)", ErrCPUNotAllowed, cpu, mask.cpus())
	}
	clear(mask[:])
	mask[cpu/64] = bit
	if _, _, e := unix.RawSyscall(unix.SYS_SCHED_SETAFFINITY, 0, size, uintptr(unsafe.Pointer(&mask[0]))); e != 0 {
		unlockOSThread()
		return msg.Errorf("affinity: pin cpu=%d: sched_setaffinity: %w", cpu, e)
	}
	return nil
}

// Allowed returns the affinity mask of the calling OS thread
// (sched_getaffinity with pid 0): the CPUs it may run on, as set by taskset,
// a cgroup cpuset, systemd CPUAffinity= or an earlier Pin. Cost: one syscall
// and a 1 KiB mask. Unless the goroutine is locked (runtime.LockOSThread) it
// may move to another thread afterwards; threads the Go runtime creates keep
// the mask the process started with, so for an unlocked goroutine this is
// the process's mask unless something set affinity without locking.
func Allowed() (CPUSet, error) {
	m := newMask()
	if err := getAffinity(m); err != nil {
		return nil, msg.Errorf("affinity: sched_getaffinity: %w", err)
	}
	return maskToSet(m), nil
}

// CurrentCPU returns the CPU the calling thread is running on at the moment
// of the call (getcpu(2); Go's x/sys/unix has no wrapper, and the vDSO entry
// is not reachable from pure Go, so this is a real system call). The
// answer may be stale as soon as it returns unless the thread is pinned.
// It returns -1 if the syscall fails (never seen on Linux ≥ 2.6.19).
func CurrentCPU() int {
	cpu, err := getcpu()
	if err != nil {
		return -1
	}
	return cpu
}

func sysGetcpu() (int, error) {
	var cpu, node uint32
	_, _, e := unix.RawSyscall(unix.SYS_GETCPU, uintptr(unsafe.Pointer(&cpu)), uintptr(unsafe.Pointer(&node)), 0)
	if e != 0 {
		return -1, e
	}
	return int(cpu), nil
}
