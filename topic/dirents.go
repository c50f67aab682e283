package topic

import (
	"bytes"
	"encoding/binary"
	"io"
	"unsafe"

	"golang.org/x/sys/unix"
)

// A publisher's tracker looks at its directory every 10 ms and, where a
// subscriber process has no pidfd (named.go), at its segment's name every
// millisecond, for as long as it lives. Through os.ReadDir and unix.Stat
// those looks made all of a publisher's garbage at rest — 2 700
// allocations a second with one subscriber process, two more per look at
// each further one — where a process that turned its collector off
// expects none. The two below make none (TestTrackerAllocs).

// dirReader lists a directory through a descriptor it keeps open and a
// buffer it reuses, a part at a time if its caller wishes: each names
// goes on from where the last one stopped, until the directory's end.
type dirReader struct {
	path  string
	fd    int // -1 until opened
	buf   []byte
	off   int64 // where the next names starts: 0, or the cookie after the last entry taken
	ended bool  // the last names reached the directory's end (and off went back to 0)
	err   error // of the last names
}

func newDirReader(path string) *dirReader { return &dirReader{path: path, fd: -1} }

// Offsets in a struct linux_dirent64 (getdents64(2)).
const (
	direntIno    = 0  // uint64: the inode
	direntOff    = 8  // int64: the cookie to seek to for the entries after this one
	direntReclen = 16 // uint16: the record's length
	direntName   = 19 // the name, NUL-terminated within the record
)

// names yields the name and inode of each entry of the directory, in the
// kernel's order, from where the last names stopped; the name is valid
// until the next yield. An entry whose yield returns false (the caller's
// break) is not taken: the next names yields it first. Afterwards ended
// says whether it reached the directory's end, err whether it failed (the
// next names then starts from the beginning). Cost: a seek, one
// getdents64 per 8 KiB of entries and one more at the end; nothing
// allocated once the directory is open.
func (d *dirReader) names(yield func(name []byte, ino uint64) bool) {
	d.ended = false
	if d.err = d.seek(); d.err != nil {
		return
	}
	for {
		n, err := unix.Getdents(d.fd, d.buf)
		if err != nil || n <= 0 {
			d.err, d.ended, d.off = err, err == nil, 0
			return
		}
		for b := d.buf[:n]; len(b) > 0; {
			reclen := 0
			if len(b) > direntName {
				reclen = int(binary.NativeEndian.Uint16(b[direntReclen:]))
			}
			if reclen <= direntName || reclen > len(b) {
				d.err, d.off = unix.EINVAL, 0 // not a record the kernel writes: stop, do not loop
				return
			}
			name := b[direntName:reclen]
			if i := bytes.IndexByte(name, 0); i >= 0 {
				name = name[:i]
			}
			if !yield(name, binary.NativeEndian.Uint64(b[direntIno:])) {
				return
			}
			d.off = int64(binary.NativeEndian.Uint64(b[direntOff:]))
			b = b[reclen:]
		}
	}
}

// seek opens the directory the first time, and goes to where the next
// names starts.
func (d *dirReader) seek() error {
	if d.fd < 0 {
		fd, err := unix.Open(d.path, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return err
		}
		d.fd, d.buf = fd, make([]byte, 8<<10)
	}
	_, err := unix.Seek(d.fd, d.off, io.SeekStart)
	return err
}

// stat returns the directory's status, opening it the first time.
func (d *dirReader) stat(st *unix.Stat_t) error {
	if d.fd < 0 {
		if err := d.seek(); err != nil {
			return err
		}
	}
	return unix.Fstat(d.fd, st)
}

func (d *dirReader) close() {
	if d.fd >= 0 {
		unix.Close(d.fd)
		d.fd = -1
	}
}

// statIno returns the inode number of the file the NUL-terminated path
// leads to, asked through statx(2) itself (unix.Stat would make a new C
// string of a Go one each call: an idle subscriber's looks at its
// topic's name, once a millisecond, made garbage).
func statIno(path []byte) (uint64, bool) {
	if len(path) == 0 {
		return 0, false
	}
	var stx unix.Statx_t
	cwd := unix.AT_FDCWD // a variable: the constant (-100) is no uintptr
	_, _, errno := unix.Syscall6(unix.SYS_STATX, uintptr(cwd), uintptr(unsafe.Pointer(&path[0])), 0,
		unix.STATX_INO, uintptr(unsafe.Pointer(&stx)), 0)
	return stx.Ino, errno == 0 && stx.Mask&unix.STATX_INO != 0
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
