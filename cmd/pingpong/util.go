package main

import (
	"os"

	"github.com/spinwire/spinwire/layout"
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

// openSegment maps the segment behind f. The Segment gets its own duplicate
// of the descriptor: f keeps (and, when closed or finalised, closes) its own.
func openSegment(f *os.File, fingerprint uint64) (*layout.Segment, error) {
	fd, err := unix.Dup(int(f.Fd()))
	if err != nil {
		return nil, err
	}
	seg, err := layout.OpenFd(fd, layout.Options{Fingerprint: fingerprint})
	if err != nil {
		unix.Close(fd)
	}
	return seg, err
}
