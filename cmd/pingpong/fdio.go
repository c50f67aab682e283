package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// fdEnd is the parent's end of the byte-stream transports driven with raw
// read(2) and write(2) (uds, pipe, tcp): it writes each message with one
// write and reads until the echo is complete. rfd and wfd are one socket,
// or the two pipes' ends.
type fdEnd struct {
	rfd, wfd int
	msg      []byte // one message; its first 8 bytes carry the seq
	buf      []byte // a throughput batch
	c        *config
	close    func()

	// rate mode: the parent's fds are non-blocking (they are its own open
	// file descriptions: the peer holds the other ends).
	nonblock bool
	pend     []byte // the unsent tail of the last message accepted
	rbuf     []byte // echoes read so far, rlen bytes
	rlen     int
	expect   uint64 // the seq the next echo must carry
}

func newFdEnd(c *config, rfd, wfd int, close func()) (*fdEnd, error) {
	e := &fdEnd{rfd: rfd, wfd: wfd, c: c, close: close, msg: make([]byte, c.Size), expect: 1}
	for i := range e.msg {
		e.msg[i] = byte(i)
	}
	switch c.Mode {
	case "throughput":
		e.buf = make([]byte, max(c.Size*c.Batch, 8))
	case "rate":
		e.rbuf = make([]byte, c.Size*64)
		e.nonblock = true
		for _, fd := range []int{rfd, wfd} {
			if err := unix.SetNonblock(fd, true); err != nil {
				return nil, fmt.Errorf("O_NONBLOCK: %w", err)
			}
		}
	}
	return e, nil
}

// writes says how a byte-stream transport writes: one call per message,
// or per batch in throughput mode.
func writes(c *config, call string) string {
	if c.Mode == "throughput" && c.Batch > 1 {
		return fmt.Sprintf("one %s per batch of %d %d-byte messages", call, c.Batch, c.Size)
	}
	return fmt.Sprintf("one %d-byte %s per message", c.Size, call)
}

// writeFull writes all of b to fd.
func writeFull(fd int, b []byte) error {
	for len(b) > 0 {
		n, err := unix.Write(fd, b)
		if err == unix.EINTR {
			continue
		}
		if err == unix.EAGAIN {
			return errTimeout
		}
		if err != nil {
			return err
		}
		b = b[n:]
	}
	return nil
}

// readFull reads exactly len(b) bytes from fd.
func readFull(fd int, b []byte) error {
	for len(b) > 0 {
		n, err := unix.Read(fd, b)
		if err == unix.EINTR {
			continue
		}
		if err == unix.EAGAIN {
			return errTimeout
		}
		if err != nil {
			return err
		}
		if n == 0 {
			return errPeerClosed
		}
		b = b[n:]
	}
	return nil
}

var errPeerClosed = errors.New("peer closed its end")

func (e *fdEnd) roundTrip(seq uint64) error {
	binary.LittleEndian.PutUint64(e.msg, seq)
	if err := writeFull(e.wfd, e.msg); err != nil {
		return err
	}
	if err := readFull(e.rfd, e.msg); err != nil {
		return err
	}
	if got := binary.LittleEndian.Uint64(e.msg); got != seq {
		return fmt.Errorf("echo carried seq %d, sent %d", got, seq)
	}
	return nil
}

func (e *fdEnd) stream(n, batch int) error {
	size := e.c.Size
	for seq := 0; seq < n; {
		k := min(batch, n-seq)
		for i := range k {
			binary.LittleEndian.PutUint64(e.buf[i*size:], uint64(seq+i))
		}
		if err := writeFull(e.wfd, e.buf[:k*size]); err != nil {
			return err
		}
		seq += k
	}
	if err := readFull(e.rfd, e.buf[:8]); err != nil {
		return err
	}
	if got := binary.LittleEndian.Uint64(e.buf); got != uint64(n) {
		return fmt.Errorf("peer confirmed %d of %d messages in order", got, n)
	}
	return nil
}

// flush writes what is left of the last message; false while some is.
func (e *fdEnd) flush() (bool, error) {
	for len(e.pend) > 0 {
		n, err := unix.Write(e.wfd, e.pend)
		if err == unix.EAGAIN || err == unix.EINTR {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		e.pend = e.pend[n:]
	}
	return true, nil
}

func (e *fdEnd) trySend(seq uint64) (bool, error) {
	if ok, err := e.flush(); !ok {
		return false, err
	}
	binary.LittleEndian.PutUint64(e.msg, seq)
	n, err := unix.Write(e.wfd, e.msg)
	if err == unix.EAGAIN || err == unix.EINTR {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	e.pend = e.msg[n:]
	return true, nil
}

func (e *fdEnd) tryRecv() (uint64, bool, error) {
	if _, err := e.flush(); err != nil {
		return 0, false, err
	}
	n, err := unix.Read(e.rfd, e.rbuf[e.rlen:])
	if err == unix.EAGAIN || err == unix.EINTR {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	if n == 0 {
		return 0, false, errPeerClosed
	}
	e.rlen += n
	size := e.c.Size
	k := e.rlen / size
	if k == 0 {
		return 0, false, nil
	}
	for i := range k {
		if got := binary.LittleEndian.Uint64(e.rbuf[i*size:]); got != e.expect {
			return 0, false, fmt.Errorf("echo carried seq %d, expected %d", got, e.expect)
		}
		e.expect++
	}
	e.rlen = copy(e.rbuf, e.rbuf[k*size:e.rlen])
	return e.expect - 1, true, nil
}

func (e *fdEnd) window() int { return e.c.Slots }

func (e *fdEnd) stop() error {
	defer e.close()
	if e.nonblock {
		unix.SetNonblock(e.rfd, false)
		unix.SetNonblock(e.wfd, false)
	}
	if e.c.Mode != "throughput" {
		return e.roundTrip(stopSeq)
	}
	return nil
}

// serveFd is the peer's side of the byte-stream transports: echo each
// message until stopSeq (latency, rate), or count the stream's messages,
// check their seqs and confirm the count (throughput). The caller pins.
func serveFd(c *config, rfd, wfd int) error {
	peerCPU.see()
	defer peerCPU.see()
	if c.Mode != "throughput" {
		msg := make([]byte, c.Size)
		for {
			if err := readFull(rfd, msg); err != nil {
				return err
			}
			if err := writeFull(wfd, msg); err != nil {
				return err
			}
			if binary.LittleEndian.Uint64(msg) == stopSeq {
				return nil
			}
		}
	}
	read := func(b []byte) (int, error) {
		for {
			n, err := unix.Read(rfd, b)
			if err != unix.EINTR {
				return n, err
			}
		}
	}
	return drain(c, read, func(b []byte) error { return writeFull(wfd, b) })
}

// drain is the peer's side of a throughput round over a byte stream: it
// reads the round's messages, checks their seqs and writes the count it
// confirms (0 if any seq was out of order) as 8 bytes.
func drain(c *config, read func([]byte) (int, error), write func([]byte) error) error {
	n := c.perRound()
	buf := make([]byte, c.Size*max(c.Batch, 64))
	var next uint64
	ok := true
	for got := 0; got < n*c.Size; {
		k, err := read(buf[:min(len(buf), n*c.Size-got)])
		if err != nil || k == 0 {
			return fmt.Errorf("read: %v (%d bytes)", err, k)
		}
		// Check the seq of every message that starts in this read; one whose
		// seq word straddles two reads is counted, not checked.
		for off := (got + c.Size - 1) / c.Size * c.Size; off < got+k; off += c.Size {
			if off+8 <= got+k && binary.LittleEndian.Uint64(buf[off-got:]) != next {
				ok = false
			}
			next++
		}
		got += k
	}
	done := uint64(n)
	if !ok {
		done = 0
	}
	return write(binary.LittleEndian.AppendUint64(nil, done))
}

// serveSocket is the peer of a transport over one stream socket (uds, tcp):
// pinned, echoing or draining through serveFd.
func serveSocket(c *config, files []*os.File) error {
	if len(files) != 1 {
		return errors.New("want one socket fd")
	}
	if err := pinPeer(c); err != nil {
		return err
	}
	fd := int(files[0].Fd())
	return serveFd(c, fd, fd)
}
