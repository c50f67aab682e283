package main

import (
	"os"

	"golang.org/x/sys/unix"
)

// dupFile returns a new *os.File on a duplicate of fd, for a peer to inherit.
func dupFile(fd int, name string) (*os.File, error) {
	nfd, err := unix.Dup(fd)
	if err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(nfd), name), nil
}
