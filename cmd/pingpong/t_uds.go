package main

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// The uds transport: a Unix stream socket pair driven with raw read(2) and
// write(2) calls — the kernel path most local IPC takes, without Go's
// netpoller in the way (see uds-net for that).

func init() { register("uds", udsT{}) }

type udsT struct{}

func (udsT) open(c *config) (end, []*os.File, error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("socketpair: %w", err)
	}
	setTimeouts(fds[0], c)
	e, err := newFdEnd(c, fds[0], fds[0], func() { unix.Close(fds[0]) })
	if err != nil {
		unix.Close(fds[0])
		unix.Close(fds[1])
		return nil, nil, err
	}
	return e, []*os.File{os.NewFile(uintptr(fds[1]), "uds-peer")}, nil
}

// setTimeouts makes a blocking socket give up after the config's timeout.
func setTimeouts(fd int, c *config) {
	tv := unix.NsecToTimeval(c.Timeout.Nanoseconds())
	unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_SNDTIMEO, &tv)
}

func (udsT) serve(c *config, files []*os.File) error { return serveSocket(c, files) }

func (udsT) options(c *config) options {
	return options{Path: "AF_UNIX stream socketpair, " + writes(c, "write(2)"), Wait: "blocking read(2)"}
}
