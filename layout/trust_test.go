package layout

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// writeThrough reopens fd read-write through /proc/self/fd — as whoever
// receives a read-only descriptor of a memfd may — and tries to write a
// byte with pwrite(2), through a writable shared mapping and by punching
// a hole (which zeroes pages). It returns what each attempt returned
// (nil: the write went through).
func writeThrough(t *testing.T, fd int) (pwrite, mmap, punch error) {
	t.Helper()
	rw, err := unix.Open("/proc/self/fd/"+strconv.Itoa(fd), unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("reopen read-write: %v", err)
	}
	defer unix.Close(rw)
	_, pwrite = unix.Pwrite(rw, []byte{1}, HeaderLength)
	mem, mmap := unix.Mmap(rw, 0, HeaderLength, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if mmap == nil {
		unix.Munmap(mem)
	}
	punch = unix.Fallocate(rw, unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, HeaderLength, 4096)
	return pwrite, mmap, punch
}

// TestSealWrites: a segment's descriptor, reopened read-write, writes and
// maps writable until SealWrites, and neither after it; the Segment's own
// mapping still writes, and a second seal is harmless.
func TestSealWrites(t *testing.T) {
	seg, err := Create(4096, Options{Fingerprint: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer seg.Close()
	if pw, mm, ph := writeThrough(t, seg.Fd()); pw != nil || mm != nil || ph != nil {
		t.Fatalf("before the seal: pwrite %v, mmap %v, punch %v", pw, mm, ph)
	}
	for range 2 {
		if err := seg.SealWrites(); err != nil {
			t.Fatal(err)
		}
	}
	seg.Body()[0] = 1 // the byte that pwrite wrote, which the punch zeroed
	if pw, mm, ph := writeThrough(t, seg.Fd()); !errors.Is(pw, unix.EPERM) || !errors.Is(mm, unix.EPERM) || !errors.Is(ph, unix.EPERM) {
		t.Fatalf("after the seal: pwrite %v, mmap %v, punch %v; want EPERM for each", pw, mm, ph)
	}
	seg.Body()[1] = 7
	var b [2]byte
	if _, err := unix.Pread(seg.Fd(), b[:], HeaderLength); err != nil || b != [2]byte{1, 7} {
		t.Fatalf("the segment's own mapping: read %v, %v", b, err)
	}
}

// TestOpenRefusesOtherOwners: Open by name refuses a name, or a segment,
// of a uid that is neither this process's nor the directory's owner — in
// a sticky world-writable directory, as /dev/shm is, anyone may add a
// name — and accepts both when that uid owns the directory. Root only
// (it gives the files away).
func TestOpenRefusesOtherOwners(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root: gives files to another uid")
	}
	const other = 23456
	dir := t.TempDir()
	os.Chmod(dir, 0o777|os.ModeSticky)
	seg, err := Create(4096, Options{Name: "s", Dir: dir, Fingerprint: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer seg.Close()
	path := filepath.Join(dir, "s")
	open := func() error {
		s, err := Open(Options{Name: "s", Dir: dir, Fingerprint: 1})
		if err == nil {
			s.Close()
		}
		return err
	}
	for _, c := range []struct {
		name, seg, dir int
		want           string
	}{
		{other, 0, 0, "the name " + path + " belongs to uid 23456"},
		{0, other, 0, "the segment " + path + " belongs to uid 23456"},
		{other, other, other, ""},
		{0, 0, 0, ""},
	} {
		os.Lchown(path, c.name, c.name)
		unix.Fchown(seg.Fd(), c.seg, c.seg)
		os.Chown(dir, c.dir, c.dir)
		err := open()
		if c.want == "" && err != nil || c.want != "" && (!errors.Is(err, ErrUntrusted) || !strings.Contains(err.Error(), c.want)) {
			t.Errorf("name of uid %d, segment of %d, directory of %d: %v, want %q", c.name, c.seg, c.dir, err, c.want)
		}
	}
}
