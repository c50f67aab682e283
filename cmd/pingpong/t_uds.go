package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// The uds transport: a Unix stream socket pair driven with raw read(2) and
// write(2) calls — the kernel path most local IPC takes, without Go's
// netpoller in the way (see uds-net for that).

func init() { register("uds", udsT{}) }

type udsT struct{}

type udsEnd struct {
	fd  int
	msg []byte
	buf []byte
	c   *config
}

func (udsT) open(c *config) (end, []*os.File, error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("socketpair: %w", err)
	}
	tv := unix.NsecToTimeval(c.Timeout.Nanoseconds())
	unix.SetsockoptTimeval(fds[0], unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	unix.SetsockoptTimeval(fds[0], unix.SOL_SOCKET, unix.SO_SNDTIMEO, &tv)
	e := &udsEnd{fd: fds[0], msg: make([]byte, c.Size), buf: make([]byte, max(c.Size*c.Batch, 8)), c: c}
	return e, []*os.File{os.NewFile(uintptr(fds[1]), "uds-peer")}, nil
}

// writeFull writes all of b to fd.
func writeFull(fd int, b []byte) error {
	for len(b) > 0 {
		n, err := unix.Write(fd, b)
		if err == unix.EINTR {
			continue
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
			return errors.New("peer closed the socket")
		}
		b = b[n:]
	}
	return nil
}

func (e *udsEnd) roundTrip(seq uint64) error {
	binary.LittleEndian.PutUint64(e.msg, seq)
	if err := writeFull(e.fd, e.msg); err != nil {
		return err
	}
	if err := readFull(e.fd, e.msg); err != nil {
		return err
	}
	if got := binary.LittleEndian.Uint64(e.msg); got != seq {
		return fmt.Errorf("echo carried seq %d, sent %d", got, seq)
	}
	return nil
}

func (e *udsEnd) stream(n, batch int) error {
	for seq := 0; seq < n; {
		k := min(batch, n-seq)
		for i := range k {
			binary.LittleEndian.PutUint64(e.buf[i*e.c.Size:], uint64(seq+i))
		}
		if err := writeFull(e.fd, e.buf[:k*e.c.Size]); err != nil {
			return err
		}
		seq += k
	}
	if err := readFull(e.fd, e.buf[:8]); err != nil {
		return err
	}
	if got := binary.LittleEndian.Uint64(e.buf); got != uint64(n) {
		return fmt.Errorf("peer confirmed %d of %d messages in order", got, n)
	}
	return nil
}

func (e *udsEnd) stop() error {
	defer unix.Close(e.fd)
	if e.c.Mode == "latency" {
		return e.roundTrip(stopSeq)
	}
	return nil
}

func (udsT) serve(c *config, files []*os.File) error {
	if len(files) != 1 {
		return errors.New("want one socket fd")
	}
	if err := pinPeer(c); err != nil {
		return err
	}
	fd := int(files[0].Fd())
	if c.Mode == "latency" {
		msg := make([]byte, c.Size)
		for {
			if err := readFull(fd, msg); err != nil {
				return err
			}
			if err := writeFull(fd, msg); err != nil {
				return err
			}
			if binary.LittleEndian.Uint64(msg) == stopSeq {
				return nil
			}
		}
	}
	n := c.N / c.Rounds
	buf := make([]byte, c.Size*max(c.Batch, 64))
	var next uint64
	ok := true
	for got := 0; got < n*c.Size; {
		k, err := unix.Read(fd, buf[:min(len(buf), n*c.Size-got)])
		if err == unix.EINTR {
			continue
		}
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
	return writeFull(fd, binary.LittleEndian.AppendUint64(nil, done))
}
