package main

import (
	"errors"
	"math"
	"os"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/spinwire/spinwire/layout"
	"golang.org/x/sys/unix"
)

// The futex transport: two 32-bit words 128 bytes apart in shared memory,
// one per direction. A side stores the seq, calls FUTEX_WAKE (always: the
// classic futex ping-pong, no waiter flag) and waits with FUTEX_WAIT until
// the other word changes. No payload travels, whatever -size says.

func init() { register("futex", futexT{}) }

type futexT struct{}

const (
	futexPingOffset = 0   // uint32: written by the parent
	futexPongOffset = 128 // uint32: written by the peer
	futexLength     = 256
	futexSegmentFP  = 0x66757478 // "futx"

	futexStop  = math.MaxUint32     // stopSeq, truncated
	futexAbort = math.MaxUint32 - 1 // stored by abort into the parent's word

	futexWaitOp = 0 // FUTEX_WAIT, not private: the word is shared between processes
	futexWakeOp = 1 // FUTEX_WAKE
)

func futexWords(seg *layout.Segment) (ping, pong *uint32) {
	b := unsafe.Pointer(unsafe.SliceData(seg.Body()))
	return (*uint32)(unsafe.Add(b, futexPingOffset)), (*uint32)(unsafe.Add(b, futexPongOffset))
}

// futexWait sleeps while *p == v, for at most d; false when d passed.
func futexWait(p *uint32, v uint32, d time.Duration) bool {
	ts := unix.NsecToTimespec(d.Nanoseconds())
	_, _, errno := unix.Syscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(p)), futexWaitOp, uintptr(v), uintptr(unsafe.Pointer(&ts)), 0, 0)
	return errno != unix.ETIMEDOUT
}

// futexWake wakes one waiter on p. It does not block, so it skips the
// scheduler's syscall bookkeeping.
func futexWake(p *uint32) {
	unix.RawSyscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(p)), futexWakeOp, 1, 0, 0, 0)
}

type futexEnd struct {
	seg        *layout.Segment
	ping, pong *uint32
	last       uint32 // the last echo seen
	c          *config
}

func (futexT) open(c *config) (end, []*os.File, error) {
	if c.Mode == "throughput" {
		return nil, nil, errNotSupported{"futex", c.Mode}
	}
	seg, err := layout.Create(futexLength, layout.Options{Fingerprint: futexSegmentFP})
	if err != nil {
		return nil, nil, err
	}
	e := &futexEnd{seg: seg, c: c}
	e.ping, e.pong = futexWords(seg)
	f, err := dupFile(seg.Fd(), "futex-segment")
	if err != nil {
		seg.Close()
		return nil, nil, err
	}
	return e, []*os.File{f}, nil
}

// send publishes seq and wakes the peer.
func (e *futexEnd) send(seq uint64) {
	// SYNC: release of seq; pairs with the peer's load in serve.
	atomic.StoreUint32(e.ping, uint32(seq))
	futexWake(e.ping)
}

func (e *futexEnd) roundTrip(seq uint64) error {
	e.send(seq)
	want := uint32(seq)
	for {
		// SYNC: acquire of the peer's echo.
		v := atomic.LoadUint32(e.pong)
		switch v {
		case want:
			e.last = v
			return nil
		case futexAbort:
			return errAborted
		}
		// A wait that runs its full length with the word unchanged is a
		// peer that stopped answering.
		if !futexWait(e.pong, v, e.c.Timeout) && atomic.LoadUint32(e.pong) == v {
			return errTimeout
		}
	}
}

func (e *futexEnd) stream(int, int) error { return errNotSupported{"futex", "throughput"} }

func (e *futexEnd) trySend(seq uint64) (bool, error) {
	e.send(seq)
	return true, nil
}

func (e *futexEnd) tryRecv() (uint64, bool, error) {
	v := atomic.LoadUint32(e.pong)
	if v == e.last {
		return 0, false, nil
	}
	if v == futexAbort {
		return 0, false, errAborted
	}
	e.last = v
	return uint64(v), true, nil
}

func (e *futexEnd) window() int { return math.MaxInt32 }

func (e *futexEnd) abort() {
	atomic.StoreUint32(e.pong, futexAbort)
	futexWake(e.pong)
}

func (e *futexEnd) stop() error {
	defer e.seg.Close()
	return e.roundTrip(stopSeq)
}

func (futexT) serve(c *config, files []*os.File) error {
	if len(files) != 1 {
		return errors.New("want one segment fd")
	}
	seg, err := openSegment(files[0], futexSegmentFP)
	if err != nil {
		return err
	}
	defer seg.Close()
	if len(seg.Body()) < futexLength {
		return errors.New("futex segment too short")
	}
	ping, pong := futexWords(seg)
	if err := pinPeer(c); err != nil {
		return err
	}
	peerCPU.see()
	defer peerCPU.see()
	for last := uint32(0); ; {
		// SYNC: acquire of the parent's seq; pairs with futexEnd.send.
		v := atomic.LoadUint32(ping)
		if v != last {
			last = v
			// SYNC: release of the echo; pairs with the parent's load.
			atomic.StoreUint32(pong, v)
			futexWake(pong)
			if v == futexStop {
				return nil
			}
			continue
		}
		if !futexWait(ping, last, c.Timeout) && atomic.LoadUint32(ping) == last {
			return errTimeout
		}
	}
}

func (futexT) options(c *config) options {
	return options{Path: "32-bit word in shared memory, no payload (-size does not apply)", Wait: "FUTEX_WAIT; the sender always calls FUTEX_WAKE"}
}
