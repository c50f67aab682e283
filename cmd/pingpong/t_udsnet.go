package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"

	"golang.org/x/sys/unix"
)

// The uds-net transport: the uds socket pair through Go's net package, as
// most Go services talk today: net.Conn Write and io.ReadFull on ordinary
// goroutines, blocking in the netpoller. Neither side pins a thread (a Go
// service does not lock its goroutines); each process as a whole is
// confined to its CPU for the round instead (pinProcess), so the
// comparison stays on the same two CPUs.

func init() { register("uds-net", udsNetT{}) }

type udsNetT struct{}

type udsNetEnd struct {
	conn net.Conn
	msg  []byte
	buf  []byte
	c    *config
}

// fileConn turns fd into a net.Conn (which holds its own duplicate) and
// closes fd.
func fileConn(fd int, name string) (net.Conn, error) {
	f := os.NewFile(uintptr(fd), name)
	defer f.Close()
	return net.FileConn(f)
}

func (udsNetT) open(c *config) (end, []*os.File, error) {
	if c.Mode == "rate" {
		return nil, nil, errNotSupported{"uds-net", c.Mode}
	}
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("socketpair: %w", err)
	}
	conn, err := fileConn(fds[0], "uds-net")
	if err != nil {
		unix.Close(fds[1])
		return nil, nil, err
	}
	e := &udsNetEnd{conn: conn, msg: make([]byte, c.Size), buf: make([]byte, max(c.Size*c.Batch, 8)), c: c}
	return e, []*os.File{os.NewFile(uintptr(fds[1]), "uds-net-peer")}, nil
}

func (e *udsNetEnd) netpoll() {}

func (e *udsNetEnd) roundTrip(seq uint64) error {
	binary.LittleEndian.PutUint64(e.msg, seq)
	if _, err := e.conn.Write(e.msg); err != nil {
		return err
	}
	if _, err := io.ReadFull(e.conn, e.msg); err != nil {
		return err
	}
	if got := binary.LittleEndian.Uint64(e.msg); got != seq {
		return fmt.Errorf("echo carried seq %d, sent %d", got, seq)
	}
	return nil
}

func (e *udsNetEnd) stream(n, batch int) error {
	size := e.c.Size
	for seq := 0; seq < n; {
		k := min(batch, n-seq)
		for i := range k {
			binary.LittleEndian.PutUint64(e.buf[i*size:], uint64(seq+i))
		}
		if _, err := e.conn.Write(e.buf[:k*size]); err != nil {
			return err
		}
		seq += k
	}
	if _, err := io.ReadFull(e.conn, e.buf[:8]); err != nil {
		return err
	}
	if got := binary.LittleEndian.Uint64(e.buf); got != uint64(n) {
		return fmt.Errorf("peer confirmed %d of %d messages in order", got, n)
	}
	return nil
}

// abort closes the connection, which ends a blocked Read with an error.
func (e *udsNetEnd) abort() { e.conn.Close() }

func (e *udsNetEnd) stop() error {
	defer e.conn.Close()
	if e.c.Mode != "throughput" {
		return e.roundTrip(stopSeq)
	}
	return nil
}

func (udsNetT) serve(c *config, files []*os.File) error {
	if len(files) != 1 {
		return errors.New("want one socket fd")
	}
	if _, err := pinProcess(c.CPUs[1]); err != nil {
		return err
	}
	conn, err := net.FileConn(files[0])
	if err != nil {
		return err
	}
	defer conn.Close()
	// The main goroutine is locked to the main thread (init); serve on an
	// ordinary goroutine, as a Go server would.
	done := make(chan error, 1)
	go func() { done <- serveConn(c, conn) }()
	return <-done
}

func serveConn(c *config, conn net.Conn) error {
	peerCPU.see()
	defer peerCPU.see()
	if c.Mode == "throughput" {
		return drain(c, conn.Read, func(b []byte) error { _, err := conn.Write(b); return err })
	}
	msg := make([]byte, c.Size)
	for {
		if _, err := io.ReadFull(conn, msg); err != nil {
			return err
		}
		if _, err := conn.Write(msg); err != nil {
			return err
		}
		if binary.LittleEndian.Uint64(msg) == stopSeq {
			return nil
		}
	}
}

func (udsNetT) options(c *config) options {
	return options{Path: "AF_UNIX stream socketpair through net.Conn, " + writes(c, "Write"), Wait: "goroutine parked in Go's netpoller (epoll); process confined to its CPU, no thread pinned"}
}
