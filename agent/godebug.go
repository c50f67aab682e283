package agent

import (
	"os"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"
)

// AsyncPreemptOff reports whether this process started with
// GODEBUG=asyncpreemptoff=1 (any non-zero value) — what the runtime read at
// start-up: the environment this process was executed with
// (/proc/self/environ), not os.Setenv since, parsed by the runtime's rules
// (preemptScan).
//
// Cost: the first call reads /proc/self/environ through a 256-byte stack
// buffer (a few syscalls) and allocates nothing, so a spinner that calls it
// as it starts leaves no partly used heap spans behind on its P; later calls
// are one atomic load.
func AsyncPreemptOff() bool {
	asyncPreemptOnce.Do(readAsyncPreemptOff)
	return asyncPreemptOff
}

var (
	asyncPreemptOnce sync.Once
	asyncPreemptOff  bool // set once, under asyncPreemptOnce
)

// environPath is /proc/self/environ, NUL-terminated for openat: a Go string
// would be copied to the heap for the system call.
var environPath = [...]byte{'/', 'p', 'r', 'o', 'c', '/', 's', 'e', 'l', 'f', '/', 'e', 'n', 'v', 'i', 'r', 'o', 'n', 0}

func readAsyncPreemptOff() {
	var s preemptScan
	cwd := unix.AT_FDCWD // a variable: the constant -100 does not convert to uintptr
	fd, _, errno := unix.Syscall6(unix.SYS_OPENAT, uintptr(cwd),
		uintptr(unsafe.Pointer(&environPath[0])), unix.O_RDONLY|unix.O_CLOEXEC, 0, 0, 0)
	if errno != 0 {
		// No procfs: the environment as it is now, the next best thing.
		feed(&s, "GODEBUG=")
		feed(&s, os.Getenv("GODEBUG"))
		asyncPreemptOff = s.end() != 0
		return
	}
	defer unix.Close(int(fd))
	var buf [256]byte
	for !s.done {
		n, _, errno := unix.Syscall(unix.SYS_READ, fd, uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)))
		if errno == unix.EINTR {
			continue
		}
		if errno != 0 || n == 0 {
			break
		}
		feed(&s, buf[:n])
	}
	asyncPreemptOff = s.end() != 0
}

// preemptScan reads GODEBUG's asyncpreemptoff out of an environment block
// (NUL-terminated NAME=VALUE entries, as in /proc/self/environ) fed to it
// in chunks of any size. It follows runtime.parsegodebug at start-up: the
// first GODEBUG entry only (runtime.gogetenv); items split at ','; key and
// value split at the first '='; the value a decimal int32 with an optional
// leading '-' ("-" alone reads as 0); an item whose value does not parse
// leaves the setting as it was; the last valid item wins. No trimming. It
// keeps no bytes, only counters, so it never allocates.
type preemptScan struct {
	namePos int   // bytes of "GODEBUG=" matched in the current entry; -1: another entry
	inList  bool  // past "GODEBUG=": reading the list
	done    bool  // the first GODEBUG entry has ended
	keyPos  int   // bytes of the current item's key matched; -1: another key
	inValue bool  // past the item's first '='
	neg     bool  // the value began with '-'
	digits  int   // digits of the value so far
	n       int64 // their magnitude, capped just past the int32 range
	bad     bool  // the value does not parse
	value   int32 // the setting so far
}

const (
	godebugName = "GODEBUG="
	preemptKey  = "asyncpreemptoff"
)

func feed[T string | []byte](s *preemptScan, b T) {
	for i := 0; i < len(b) && !s.done; i++ {
		s.byte(b[i])
	}
}

func (s *preemptScan) byte(c byte) {
	if !s.inList {
		switch {
		case c == 0:
			s.namePos = 0 // the next entry
		case s.namePos < 0:
		case c != godebugName[s.namePos]:
			s.namePos = -1
		default:
			s.namePos++
			if s.namePos == len(godebugName) {
				s.inList = true
				s.startItem()
			}
		}
		return
	}
	switch {
	case c == 0:
		s.endItem()
		s.done = true
	case c == ',':
		s.endItem()
		s.startItem()
	case !s.inValue:
		switch {
		case c == '=':
			s.inValue = true
		case s.keyPos < 0:
		case s.keyPos < len(preemptKey) && c == preemptKey[s.keyPos]:
			s.keyPos++
		default:
			s.keyPos = -1
		}
	case s.keyPos != len(preemptKey) || s.bad:
	case c == '-' && !s.neg && s.digits == 0:
		s.neg = true
	case c >= '0' && c <= '9':
		s.digits++
		if s.n <= 1<<31 {
			s.n = s.n*10 + int64(c-'0')
		}
	default:
		s.bad = true
	}
}

// end finishes the block (an entry cut short by its end counts as ended)
// and returns the setting.
func (s *preemptScan) end() int32 {
	if s.inList && !s.done {
		s.endItem()
		s.done = true
	}
	return s.value
}

func (s *preemptScan) startItem() {
	s.keyPos, s.inValue, s.neg, s.digits, s.n, s.bad = 0, false, false, 0, 0, false
}

func (s *preemptScan) endItem() {
	if !s.inValue || s.keyPos != len(preemptKey) || s.bad || (s.digits == 0 && !s.neg) {
		return
	}
	v := s.n
	if s.neg {
		v = -v
	}
	if v >= -1<<31 && v < 1<<31 {
		s.value = int32(v)
	}
}
