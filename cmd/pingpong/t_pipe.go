package main

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// The pipe transport: two pipes, one per direction, driven with raw
// read(2) and write(2). A message of more than PIPE_BUF (4 KiB) bytes may
// be split by the kernel; the reader reassembles it.

func init() { register("pipe", pipeT{}) }

type pipeT struct{}

func (pipeT) open(c *config) (end, []*os.File, error) {
	var ping, pong [2]int
	if err := unix.Pipe2(ping[:], unix.O_CLOEXEC); err != nil {
		return nil, nil, fmt.Errorf("pipe2: %w", err)
	}
	if err := unix.Pipe2(pong[:], unix.O_CLOEXEC); err != nil {
		unix.Close(ping[0])
		unix.Close(ping[1])
		return nil, nil, fmt.Errorf("pipe2: %w", err)
	}
	// The parent writes ping[1] and reads pong[0]; the peer the others.
	e, err := newFdEnd(c, pong[0], ping[1], func() { unix.Close(pong[0]); unix.Close(ping[1]) })
	if err != nil {
		for _, fd := range []int{ping[0], ping[1], pong[0], pong[1]} {
			unix.Close(fd)
		}
		return nil, nil, err
	}
	return e, []*os.File{os.NewFile(uintptr(ping[0]), "pipe-ping"), os.NewFile(uintptr(pong[1]), "pipe-pong")}, nil
}

func (pipeT) serve(c *config, files []*os.File) error {
	if len(files) != 2 {
		return errors.New("want two pipe fds")
	}
	if err := pinPeer(c); err != nil {
		return err
	}
	return serveFd(c, int(files[0].Fd()), int(files[1].Fd()))
}

func (pipeT) options(c *config) options {
	path := "two pipes, " + writes(c, "write(2)")
	if c.Size > 4096 {
		path += " (above PIPE_BUF: the kernel may split it)"
	}
	return options{Path: path, Wait: "blocking read(2)"}
}
