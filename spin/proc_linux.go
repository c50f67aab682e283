package spin

import (
	"bytes"
	"strconv"

	"golang.org/x/sys/unix"
)

// procStat reads the state (field 3) and start time (field 22, clock ticks
// after boot) of process pid from /proc/<pid>/stat. The error is the
// open's or read's (unix.ENOENT: no such process), or unix.EINVAL for a
// line it cannot parse.
//
// The file is opened relative to the directory /proc/<pid>, not by its
// path: a user-mode emulator (qemu-user, which runs arm64 containers on
// x86 hosts) answers an open of its own process's stat by path with a
// line of its making, whose start time is the reading thread's and not
// what other processes read; the two would differ and a live claim would
// look dead. Cost: five system calls and a 512-byte buffer on the stack;
// for opening a ring, not for hot paths.
func procStat(pid int) (state byte, start uint64, err error) {
	dir, err := unix.Open("/proc/"+strconv.Itoa(pid), unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return 0, 0, err
	}
	fd, err := unix.Openat(dir, "stat", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	unix.Close(dir)
	if err != nil {
		return 0, 0, err
	}
	defer unix.Close(fd)
	var buf [512]byte
	n, err := unix.Read(fd, buf[:])
	if err != nil {
		return 0, 0, err
	}
	state, start, ok := parseStat(buf[:max(n, 0)])
	if !ok {
		return 0, 0, unix.EINVAL
	}
	return state, start, nil
}

// parseStat takes the state and start time out of a /proc/<pid>/stat line:
// "pid (comm) state ppid … starttime …". comm may hold spaces and
// parentheses, so the fields are counted from the last ')'. It reports
// false for a line without them.
func parseStat(b []byte) (state byte, start uint64, ok bool) {
	i := len(b) - 1
	for i >= 0 && b[i] != ')' {
		i--
	}
	if i < 0 || i+3 > len(b) || b[i+1] != ' ' {
		return 0, 0, false
	}
	rest := b[i+2:] // field 3 on
	state = rest[0]
	const startField = 22 - 3 // index of starttime in rest's fields
	for range startField {
		sp := bytes.IndexByte(rest, ' ')
		if sp < 0 {
			return 0, 0, false
		}
		rest = rest[sp+1:]
	}
	if end := bytes.IndexByte(rest, ' '); end >= 0 {
		rest = rest[:end]
	}
	start, err := strconv.ParseUint(string(rest), 10, 64)
	if err != nil {
		return 0, 0, false
	}
	return state, start, true
}
