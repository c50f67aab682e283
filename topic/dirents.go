package topic

import (
	"bytes"
	"encoding/binary"
	"io"
	"unsafe"

	"golang.org/x/sys/unix"
)

// A publisher's tracker looks at its directory every 10 ms and at each
// subscriber segment's name every millisecond, for as long as it lives.
// Through os.ReadDir and unix.Stat those looks made all of a publisher's
// garbage at rest — 2 700 allocations a second with one subscriber
// process, two more per look at each further one — where a process that
// turned its collector off expects none. The two below make none
// (TestTrackerAllocs).

// dirReader lists a directory through a descriptor it keeps open and a
// buffer it reuses.
type dirReader struct {
	path string
	fd   int // -1 until opened
	buf  []byte
	err  error // of the last names
}

func newDirReader(path string) *dirReader { return &dirReader{path: path, fd: -1} }

// Offsets in a struct linux_dirent64 (getdents64(2)).
const (
	direntReclen = 16 // uint16: the record's length
	direntName   = 19 // the name, NUL-terminated within the record
)

// names yields the name of each entry of the directory, in the kernel's
// order, valid until the next yield; afterwards err says whether the
// listing was whole. Cost: one getdents64 per 8 KiB of entries, a seek
// and a last getdents64; nothing allocated once the directory is open.
func (d *dirReader) names(yield func(name []byte) bool) {
	if d.err = d.rewind(); d.err != nil {
		return
	}
	for {
		n, err := unix.Getdents(d.fd, d.buf)
		if err != nil || n <= 0 {
			d.err = err
			return
		}
		for b := d.buf[:n]; len(b) > 0; {
			if len(b) <= direntName {
				d.err = unix.EINVAL
				return
			}
			reclen := int(binary.NativeEndian.Uint16(b[direntReclen:]))
			if reclen <= direntName || reclen > len(b) {
				d.err = unix.EINVAL // not a record the kernel writes: stop, do not loop
				return
			}
			name := b[direntName:reclen]
			if i := bytes.IndexByte(name, 0); i >= 0 {
				name = name[:i]
			}
			if !yield(name) {
				return
			}
			b = b[reclen:]
		}
	}
}

// rewind opens the directory the first time, and goes back to its start.
func (d *dirReader) rewind() error {
	if d.fd < 0 {
		fd, err := unix.Open(d.path, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return err
		}
		d.fd, d.buf = fd, make([]byte, 8<<10)
	}
	_, err := unix.Seek(d.fd, 0, io.SeekStart)
	return err
}

func (d *dirReader) close() {
	if d.fd >= 0 {
		unix.Close(d.fd)
		d.fd = -1
	}
}

// cPath is path as the kernel takes it: its bytes and a NUL.
func cPath(path string) []byte { return append([]byte(path), 0) }

// gone reports whether the NUL-terminated path leads nowhere (ENOENT),
// asked through faccessat(2) itself: unix.Access or unix.Stat would copy a
// Go string into a new C string on every call. A name that cannot be
// followed for another reason (EACCES) is not gone.
func gone(path []byte) bool {
	cwd := unix.AT_FDCWD // a variable: the constant (-100) is no uintptr
	_, _, errno := unix.Syscall(unix.SYS_FACCESSAT, uintptr(cwd), uintptr(unsafe.Pointer(&path[0])), unix.F_OK)
	return errno == unix.ENOENT
}
