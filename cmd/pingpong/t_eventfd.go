package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"

	"golang.org/x/sys/unix"
)

// The eventfd transport: two eventfds, one per direction. An eventfd is a
// 64-bit counter, not a channel: the parent adds 1, the peer reads the
// count (which resets it) and adds it to the other; no payload travels,
// whatever -size says, and echoes of several messages coalesce.

func init() { register("eventfd", eventfdT{}) }

type eventfdT struct{}

const (
	evStop  = 1 << 40 // added by stop: the peer echoes it and exits
	evAbort = 1 << 50 // added by abort to the parent's own counter
)

type eventfdEnd struct {
	ping, pong int // the parent writes ping, reads pong
	buf        []byte
	acked      uint64 // echoes counted so far (rate mode)
	nonblock   bool
	c          *config
}

func (eventfdT) open(c *config) (end, []*os.File, error) {
	if c.Mode == "throughput" {
		return nil, nil, errNotSupported{"eventfd", c.Mode}
	}
	ping, err := unix.Eventfd(0, unix.EFD_CLOEXEC)
	if err != nil {
		return nil, nil, fmt.Errorf("eventfd: %w", err)
	}
	pong, err := unix.Eventfd(0, unix.EFD_CLOEXEC)
	if err != nil {
		unix.Close(ping)
		return nil, nil, fmt.Errorf("eventfd: %w", err)
	}
	e := &eventfdEnd{ping: ping, pong: pong, buf: make([]byte, 8), c: c}
	// Both processes share each eventfd's open file description, so only
	// pong, which the peer only ever writes, may be non-blocking.
	if c.Mode == "rate" {
		e.nonblock = true
		if err := unix.SetNonblock(pong, true); err != nil {
			unix.Close(ping)
			unix.Close(pong)
			return nil, nil, err
		}
	}
	pf, err := dupFile(ping, "eventfd-ping")
	if err != nil {
		unix.Close(ping)
		unix.Close(pong)
		return nil, nil, err
	}
	qf, err := dupFile(pong, "eventfd-pong")
	if err != nil {
		pf.Close()
		unix.Close(ping)
		unix.Close(pong)
		return nil, nil, err
	}
	return e, []*os.File{pf, qf}, nil
}

// add adds v to the counter fd.
func eventAdd(fd int, buf []byte, v uint64) error {
	binary.NativeEndian.PutUint64(buf, v)
	return writeFull(fd, buf)
}

// take reads and resets the counter fd (blocking unless it is non-blocking).
func eventTake(fd int, buf []byte) (uint64, error) {
	for {
		_, err := unix.Read(fd, buf)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return 0, err
		}
		return binary.NativeEndian.Uint64(buf), nil
	}
}

var errAborted = errors.New("aborted: the peer died or stopped answering")

func (e *eventfdEnd) roundTrip(seq uint64) error {
	want := uint64(1)
	if seq == stopSeq {
		want = evStop
	}
	if err := eventAdd(e.ping, e.buf, want); err != nil {
		return err
	}
	v, err := eventTake(e.pong, e.buf)
	switch {
	case err != nil:
		return err
	case v >= evAbort:
		return errAborted
	case v != want:
		return fmt.Errorf("echo counted %d, sent %d", v, want)
	}
	return nil
}

func (e *eventfdEnd) stream(int, int) error { return errNotSupported{"eventfd", "throughput"} }

func (e *eventfdEnd) trySend(uint64) (bool, error) { return true, eventAdd(e.ping, e.buf, 1) }

func (e *eventfdEnd) tryRecv() (uint64, bool, error) {
	_, err := unix.Read(e.pong, e.buf)
	if err == unix.EAGAIN || err == unix.EINTR {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	v := binary.NativeEndian.Uint64(e.buf)
	if v >= evAbort {
		return 0, false, errAborted
	}
	e.acked += v
	return e.acked, true, nil
}

func (e *eventfdEnd) window() int { return math.MaxInt32 }

// abort wakes a parent blocked on pong with the evAbort count.
func (e *eventfdEnd) abort() { eventAdd(e.pong, make([]byte, 8), evAbort) }

func (e *eventfdEnd) stop() error {
	defer unix.Close(e.ping)
	defer unix.Close(e.pong)
	if e.nonblock {
		unix.SetNonblock(e.pong, false)
	}
	return e.roundTrip(stopSeq)
}

func (eventfdT) serve(c *config, files []*os.File) error {
	if len(files) != 2 {
		return errors.New("want two eventfds")
	}
	if err := pinPeer(c); err != nil {
		return err
	}
	peerCPU.see()
	defer peerCPU.see()
	ping, pong := int(files[0].Fd()), int(files[1].Fd())
	buf := make([]byte, 8)
	for {
		v, err := eventTake(ping, buf)
		if err != nil {
			return err
		}
		if err := eventAdd(pong, buf, v); err != nil {
			return err
		}
		if v >= evStop {
			return nil
		}
	}
}

func (eventfdT) options(c *config) options {
	return options{Path: "eventfd counter, 8 bytes, no payload (-size does not apply)", Wait: "blocking read(2)"}
}
