package main

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// The tcp transport: one loopback TCP connection with TCP_NODELAY on both
// ends, driven with raw read(2) and write(2), as the uds transport.

func init() { register("tcp", tcpT{}) }

type tcpT struct{}

// tcpPair returns the two ends of a loopback TCP connection.
func tcpPair() (client, server int, err error) {
	ln, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, -1, fmt.Errorf("socket: %w", err)
	}
	defer unix.Close(ln)
	if err := unix.Bind(ln, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		return -1, -1, fmt.Errorf("bind 127.0.0.1: %w", err)
	}
	if err := unix.Listen(ln, 1); err != nil {
		return -1, -1, fmt.Errorf("listen: %w", err)
	}
	sa, err := unix.Getsockname(ln)
	if err != nil {
		return -1, -1, err
	}
	client, err = unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, -1, fmt.Errorf("socket: %w", err)
	}
	if err := unix.Connect(client, sa); err != nil {
		unix.Close(client)
		return -1, -1, fmt.Errorf("connect %v: %w", sa, err)
	}
	server, _, err = unix.Accept4(ln, unix.SOCK_CLOEXEC)
	if err != nil {
		unix.Close(client)
		return -1, -1, fmt.Errorf("accept: %w", err)
	}
	for _, fd := range []int{client, server} {
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1); err != nil {
			unix.Close(client)
			unix.Close(server)
			return -1, -1, fmt.Errorf("TCP_NODELAY: %w", err)
		}
	}
	return client, server, nil
}

func (tcpT) open(c *config) (end, []*os.File, error) {
	client, server, err := tcpPair()
	if err != nil {
		return nil, nil, err
	}
	setTimeouts(client, c)
	e, err := newFdEnd(c, client, client, func() { unix.Close(client) })
	if err != nil {
		unix.Close(client)
		unix.Close(server)
		return nil, nil, err
	}
	return e, []*os.File{os.NewFile(uintptr(server), "tcp-peer")}, nil
}

func (tcpT) serve(c *config, files []*os.File) error { return serveSocket(c, files) }

func (tcpT) options(c *config) options {
	return options{Path: "loopback TCP (127.0.0.1), TCP_NODELAY, " + writes(c, "write(2)"), Wait: "blocking read(2)", Nodelay: true}
}
