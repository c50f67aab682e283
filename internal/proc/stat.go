package proc

import (
	"bytes"
	"strconv"
	"unsafe"

	"golang.org/x/sys/unix"
)

// StatLength holds the start of /proc/PID/stat up to the start time: at
// most a 16-byte command name, in parentheses, and 21 numbers of at most
// 20 digits.
const StatLength = 512

// Stat reads the state (field 3) and start time (field 22, clock ticks
// after boot) of process pid from /proc/PID/stat into buf and parses
// them. The error is the open's or read's errno (unix.ENOENT: no such
// process), or unix.EINVAL for a line ParseStat refuses.
//
// The file is opened relative to the directory /proc/PID, not by its
// path: a user-mode emulator (qemu-user, which runs arm64 containers on
// x86 hosts) answers an open of its own process's stat by path with a
// line of its making, whose start time is the reading thread's and not
// what other processes read; a live process would look like another.
// Cost: openat twice, a read and two closes; no allocation (the paths go
// to the system calls from the stack, which unix.Openat would copy into
// new strings).
func Stat(pid int, buf *[StatLength]byte) (state byte, start uint64, err error) {
	var pathBuf [32]byte
	path := append(pathBuf[:0], "/proc/"...)
	path = strconv.AppendInt(path, int64(pid), 10)
	path = append(path, 0)
	dir, err := openat(unix.AT_FDCWD, &path[0], unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC)
	if err != nil {
		return 0, 0, err
	}
	name := [...]byte{'s', 't', 'a', 't', 0}
	fd, err := openat(dir, &name[0], unix.O_RDONLY|unix.O_CLOEXEC)
	unix.Close(dir)
	if err != nil {
		return 0, 0, err
	}
	n, err := unix.Read(fd, buf[:])
	unix.Close(fd)
	if err != nil {
		return 0, 0, err
	}
	state, start, ok := ParseStat(buf[:max(n, 0)])
	if !ok {
		return 0, 0, unix.EINVAL
	}
	return state, start, nil
}

// openat opens the NUL-terminated path at p relative to dir.
func openat(dir int, p *byte, flags int) (int, error) {
	r, _, e := unix.Syscall6(unix.SYS_OPENAT, uintptr(dir), uintptr(unsafe.Pointer(p)), uintptr(flags), 0, 0, 0)
	if e != 0 {
		return -1, e
	}
	return int(r), nil
}

// ParseStat takes the state and start time out of a /proc/PID/stat line:
// "pid (comm) state ppid … starttime …". comm may hold spaces and
// parentheses, so the fields are counted from the last ')', one space
// apart. It reports false for a line without them, or whose start time is
// not a decimal number of 64 bits ending at a space or the line's end.
func ParseStat(b []byte) (state byte, start uint64, ok bool) {
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
	if len(rest) == 0 {
		return 0, 0, false
	}
	for _, ch := range rest {
		d := uint64(ch - '0')
		if ch < '0' || ch > '9' || start > (1<<64-1-d)/10 {
			return 0, 0, false
		}
		start = 10*start + d
	}
	return state, start, true
}
