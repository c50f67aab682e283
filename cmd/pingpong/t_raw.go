package main

import (
	"errors"
	"fmt"
	"math"
	"os"
	"sync/atomic"
	"unsafe"

	"github.com/spinwire/spinwire/asm"
	"github.com/spinwire/spinwire/layout"
)

// The raw transport is the least Go can do: two uint64 words 128 bytes
// apart in shared memory, one per direction, an atomic store to send and a
// PAUSE-and-load loop to wait — no library, no message body. It is the
// shape of the C floor in Go, so raw against floor-c is the price of Go,
// and spinwire against raw the price of the library.

func init() { register("raw", rawT{}) }

type rawT struct{}

const (
	rawPingOffset = 0   // uint64: written by the parent
	rawPongOffset = 128 // uint64: written by the peer
	rawLength     = 256
	rawSegmentFP  = 0x7261770a // "raw\n"
)

type rawEnd struct {
	seg        *layout.Segment
	ping, pong *uint64
	last       uint64 // the last echo seen
	limit      uint64
	aborted    atomic.Bool
}

// In rate mode the words are counters: the peer echoes the newest seq it
// sees, and an echo of seq covers every earlier one.

func rawWords(seg *layout.Segment) (ping, pong *uint64) {
	b := unsafe.Pointer(unsafe.SliceData(seg.Body()))
	return (*uint64)(unsafe.Add(b, rawPingOffset)), (*uint64)(unsafe.Add(b, rawPongOffset))
}

func (rawT) open(c *config) (end, []*os.File, error) {
	if c.Mode == "throughput" {
		return nil, nil, errNotSupported{"raw", c.Mode}
	}
	seg, err := layout.Create(rawLength, layout.Options{Fingerprint: rawSegmentFP})
	if err != nil {
		return nil, nil, err
	}
	e := &rawEnd{seg: seg, limit: uint64(c.Timeout.Seconds() * asm.TicksPerSecond())}
	e.ping, e.pong = rawWords(seg)
	f, err := dupFile(seg.Fd(), "raw-segment")
	if err != nil {
		seg.Close()
		return nil, nil, err
	}
	return e, []*os.File{f}, nil
}

func (e *rawEnd) roundTrip(seq uint64) error {
	// SYNC: release of seq; pairs with the peer's acquire in rawSpin.
	atomic.StoreUint64(e.ping, seq)
	v, err := rawSpin(e.pong, e.last, e.limit, &e.aborted)
	e.last = v
	if err == nil && v != seq {
		err = fmt.Errorf("echo carried seq %d, sent %d", v, seq)
	}
	return err
}

// rawSpin waits until *p differs from last and returns it, one PAUSE per
// poll; every 2^20 polls (tens of ms) it checks that limit ticks have not
// passed and that abort (if not nil) is not set.
func rawSpin(p *uint64, last, limit uint64, abort *atomic.Bool) (uint64, error) {
	var start uint64
	for i := 1; ; i++ {
		// SYNC: acquire of the other side's store.
		if v := atomic.LoadUint64(p); v != last {
			return v, nil
		}
		asm.Pause()
		if i&(1<<20-1) == 0 {
			if start == 0 {
				start = asm.Ticks()
			} else if asm.Ticks()-start > limit {
				return last, errTimeout
			}
			if abort != nil && abort.Load() {
				return last, errAborted
			}
		}
	}
}

func (e *rawEnd) abort() { e.aborted.Store(true) }

func (e *rawEnd) stream(int, int) error { return errNotSupported{"raw", "throughput"} }

func (e *rawEnd) trySend(seq uint64) (bool, error) {
	// SYNC: release of seq; pairs with the peer's acquire in rawSpin.
	atomic.StoreUint64(e.ping, seq)
	return true, nil
}

func (e *rawEnd) tryRecv() (uint64, bool, error) {
	// SYNC: acquire of the peer's echo; pairs with its store in serve.
	v := atomic.LoadUint64(e.pong)
	if v == e.last {
		return 0, false, nil
	}
	e.last = v
	return v, true, nil
}

func (e *rawEnd) window() int { return math.MaxInt32 }

func (e *rawEnd) stop() error {
	defer e.seg.Close()
	atomic.StoreUint64(e.ping, stopSeq)
	return nil
}

func (rawT) serve(c *config, files []*os.File) error {
	if len(files) != 1 {
		return errors.New("want one segment fd")
	}
	seg, err := openSegment(files[0], rawSegmentFP)
	if err != nil {
		return err
	}
	if len(seg.Body()) < rawLength {
		return errors.New("raw segment too short")
	}
	ping, pong := rawWords(seg)
	if err := pinPeer(c); err != nil {
		return err
	}
	limit := uint64(c.Timeout.Seconds() * asm.TicksPerSecond()) // calibrates (100 ms) before the peer says it is ready
	peerCPU.see()
	defer peerCPU.see()
	// A plain loop on the pinned thread: no Agent, no ring.
	for last := uint64(0); last != stopSeq; {
		v, err := rawSpin(ping, last, limit, nil)
		if err != nil {
			return err
		}
		last = v
		// SYNC: release of the echo; pairs with rawSpin in the parent.
		atomic.StoreUint64(pong, v)
	}
	return nil
}

func (rawT) options(c *config) options {
	return options{Path: "two uint64 words 128 bytes apart, 8 bytes, no payload (-size does not apply)", Wait: "PAUSE and load (busy spin), no agent"}
}
