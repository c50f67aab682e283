package link

import (
	"sync"
	"sync/atomic"

	"github.com/spinwire/spinwire/asm"
	"golang.org/x/sys/unix"
)

// Close and the calls. Close may run on any goroutine, while a call of the
// Conn is spinning or waiting; the call must then end (ErrClosed), and the
// attachment's shared memory be unmapped only once no call can touch it.
// The calls mark themselves: enter stores 1 in inCall and then loads
// closing; leave stores 0 and loads closing again. Close stores closing,
// then loads inCall: if it reads 0 it releases the attachment, else the
// call releases it in leave. That is a Dekker handshake — each side
// stores, then loads what the other stores — and needs a full barrier
// between each side's store and its load, or both may read the old value.
// A call must not pay one (an XCHG, which drains the store buffer) twice
// per call, so the barrier is asymmetric, as in spin's park/wake
// (spin/fence_linux.go): the calls store inCall with a plain release store
// (asm.StoreRelease64), and Close issues
// membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED), which runs a full barrier
// on every CPU running a thread of this process before it returns. Then
// if Close reads inCall 0, the call's later load of closing reads 1, and
// if Close reads 1, the call's leave reads closing 1 and releases;
// released makes sure only one of them does. Where the kernel lacks the
// command (before Linux 4.14, or a seccomp filter), the calls store inCall
// with sync/atomic (XCHG) instead.
const (
	membarrierCmdPrivateExpedited         = 1 << 3
	membarrierCmdRegisterPrivateExpedited = 1 << 4
)

var callFence struct {
	once sync.Once
	ok   bool // registered: calls store inCall with a plain release store
}

// registerCallFence registers the process for the private expedited
// membarrier, once, before the first Conn exists.
func registerCallFence() {
	callFence.once.Do(func() {
		_, _, e := unix.Syscall(unix.SYS_MEMBARRIER, membarrierCmdRegisterPrivateExpedited, 0, 0)
		callFence.ok = e == 0
	})
}

// storeInCall is the calls' side of the handshake.
func (c *Conn[Req, Resp]) storeInCall(v uint64) {
	if callFence.ok {
		// SYNC: release of the call's accesses to the arena (leave);
		// ordered before the load of closing by Close's membarrier.
		asm.StoreRelease64(&c.inCall, v)
	} else {
		atomic.StoreUint64(&c.inCall, v)
	}
}

// enter marks a call of c as running; it reports false (and the call
// returns ErrClosed) once Close has begun. Cost: a plain store and a load.
func (c *Conn[Req, Resp]) enter() bool {
	c.storeInCall(1)
	// SYNC: pairs with Close's store of closing (see above).
	if c.closing.Load() {
		c.leave()
		return false
	}
	return true
}

// leave marks the call done; if Close came meanwhile, the call releases
// the attachments. Cost: a plain store and a load.
func (c *Conn[Req, Resp]) leave() {
	c.storeInCall(0)
	if c.closing.Load() {
		c.releaseAll()
	}
}

// fenceCalls is Close's side: after it, either Close sees a call's inCall
// or the call sees closing. It reports false if the kernel refused the
// membarrier it registered for (which it does not do): Close then leaves
// the release to the calls.
func fenceCalls() bool {
	if !callFence.ok {
		// The calls store inCall with XCHG, and Close's own store of
		// closing was an XCHG too.
		return true
	}
	_, _, e := unix.Syscall(unix.SYS_MEMBARRIER, membarrierCmdPrivateExpedited, 0, 0)
	return e == 0
}

// releaseAll releases the Conn's attachments, once: from Close when no
// call runs, or from the call that was running when Close came.
func (c *Conn[Req, Resp]) releaseAll() {
	if !c.released.CompareAndSwap(false, true) {
		return
	}
	if c.cur != nil {
		c.cur.release()
		c.cur = nil
	}
	if n := c.next.Swap(nil); n != nil {
		n.release()
	}
}
