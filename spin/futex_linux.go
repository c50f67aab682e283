//go:build linux

package spin

import (
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Futex operations without FUTEX_PRIVATE_FLAG (128): the word is in memory
// shared between processes, so the kernel must key the wait queue on the
// page, not on this process's address space.
const (
	futexWaitOp = 0 // FUTEX_WAIT
	futexWakeOp = 1 // FUTEX_WAKE
)

// futexWakeHook, when set by a test, sees every wake instead of the kernel.
var futexWakeHook func(addr *uint32)

// futexWake wakes one waiter on addr. RawSyscall: the call never blocks, so
// there is no need to hand the P off. Cost: one system call; publishers
// make it only when the consumer's waiters flag says it is parked.
func futexWake(addr *uint32) {
	if futexWakeHook != nil {
		futexWakeHook(addr)
		return
	}
	unix.RawSyscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(addr)), futexWakeOp, 1, 0, 0, 0)
}

// futexWait sleeps while *addr == val, for at most d (d ≤ 0: no limit). It
// returns on a wake, a timeout, a signal or a changed value: callers
// re-check their condition. Syscall, not RawSyscall: the goroutine's P is
// handed off while it sleeps.
func futexWait(addr *uint32, val uint32, d time.Duration) {
	var tsp uintptr
	var ts unix.Timespec
	if d > 0 {
		ts = unix.NsecToTimespec(d.Nanoseconds())
		tsp = uintptr(unsafe.Pointer(&ts))
	}
	unix.Syscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(addr)), futexWaitOp, uintptr(val), tsp, 0, 0)
}
