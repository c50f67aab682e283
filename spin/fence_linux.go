//go:build linux

package spin

import (
	"golang.org/x/sys/unix"
)

// Asymmetric fences. Park/wake is a Dekker handshake: the producer stores
// its message and then loads the consumer's parked flag; the consumer
// stores the flag and then loads the message's sequence. Each side needs a
// full barrier between its store and its load, or both may read the old
// value and the wake-up is lost. On amd64 that barrier is an XCHG, which
// also drains the store buffer, and a streaming producer would pay that on
// every publish (asm's BenchmarkPublish compares MOV and XCHG stores;
// docs/benchmarks.md has the figures).
//
// So the barrier is made asymmetric, as Folly's asymmetricHeavyBarrier and
// liburcu do: the producer publishes with plain release stores (MOV), and
// the consumer — only when it is about to park, the slow path — issues
// membarrier(MEMBARRIER_CMD_GLOBAL_EXPEDITED), which makes every CPU
// running a process registered for it execute a full barrier before the
// call returns. Every process that binds a ring registers once. The call
// interrupts every CPU running a registered process, so only a consumer on
// its way to sleep makes it. Where the kernel lacks it (before Linux 4.16,
// or a seccomp filter), producers fall back to XCHG stores and nothing is
// lost.
const (
	membarrierCmdGlobalExpedited         = 1 << 1
	membarrierCmdRegisterGlobalExpedited = 1 << 2
)

// asymmetricFence is true when this process registered for expedited
// global membarrier; producers then publish with plain stores.
var asymmetricFence = registerMembarrier()

func registerMembarrier() bool {
	_, _, e := unix.Syscall(unix.SYS_MEMBARRIER, membarrierCmdRegisterGlobalExpedited, 0, 0)
	return e == 0
}

// heavyFence makes every CPU running a registered process (every process
// using a ring) execute a full memory barrier. It reports false if the
// kernel refused.
func heavyFence() bool {
	_, _, e := unix.Syscall(unix.SYS_MEMBARRIER, membarrierCmdGlobalExpedited, 0, 0)
	return e == 0
}
