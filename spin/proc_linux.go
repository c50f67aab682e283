package spin

import (
	"bytes"
	"strconv"

	"golang.org/x/sys/unix"
)

// procStat reads the state (field 3) and start time (field 22, clock ticks
// after boot) of process pid from /proc/<pid>/stat. The error is the
// open's or read's (unix.ENOENT: no such process), or unix.EINVAL for a
// line it cannot parse. Cost: three system calls and a 512-byte buffer on
// the stack; for opening a ring, not for hot paths.
func procStat(pid int) (state byte, start uint64, err error) {
	fd, err := unix.Open("/proc/"+strconv.Itoa(pid)+"/stat", unix.O_RDONLY|unix.O_CLOEXEC, 0)
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
