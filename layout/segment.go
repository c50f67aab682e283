package layout

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/spinwire/spinwire/internal/msg"

	"golang.org/x/sys/unix"
)

// DefaultDir is where named segments live unless Options.Dir says otherwise.
const DefaultDir = "/dev/shm"

// requiredSeals are the seals a memfd segment must carry before anyone maps
// it: with them no process can shrink the file under a reader (which would
// turn its next access into SIGBUS) or grow it.
const requiredSeals = unix.F_SEAL_SHRINK | unix.F_SEAL_GROW

// Options configures Create and Open.
type Options struct {
	// Name selects a named segment: a sealed memfd like any other, which
	// Create makes reachable as Dir/Name (named.go says how) while the
	// creating process holds it. Empty means an anonymous memfd, shared by
	// passing its file descriptor (SCM_RIGHTS). Names may not contain '/'
	// or be "." or "..".
	Name string
	// Dir holds named segments; empty means DefaultDir.
	Dir string
	// Fingerprint is the layout fingerprint of the body (Schema.Fingerprint
	// of whatever the caller lays out there). Create records it; Open
	// refuses a segment whose recorded fingerprint differs. 0 on Open
	// accepts any.
	Fingerprint uint64
	// Epoch identifies the creator's incarnation; 0 on Create means "the
	// current time in nanoseconds", so a restarted creator gets a new one.
	Epoch uint64
	// Mlock locks the mapping in memory (mlock(2)); Create and Open fail if
	// RLIMIT_MEMLOCK does not allow it.
	Mlock bool
	// Sparse maps without MAP_POPULATE: pages are allocated (and count
	// towards RSS) only when first touched. For arenas sized for many
	// connections of which few are attached. The header page is always
	// touched.
	Sparse bool
	// AllowUnsealed lets Open and OpenFd accept a file without the
	// shrink/grow seals. Leave it false: an unsealed file can be truncated
	// by a peer, and the next access to the lost pages raises SIGBUS in
	// this process, which no Go code can recover from.
	AllowUnsealed bool
	// MaxLength is the largest segment (header included) Open and OpenFd
	// accept; 0 means DefaultMaxLength. The file's size and its header are
	// checked against it before anything is mapped, so a peer cannot make
	// the opener populate gigabytes it did not ask for.
	MaxLength int64
	// ReadOnly makes Open and OpenFd map the segment PROT_READ (Open also
	// opens the file O_RDONLY): a reader that must not, or cannot, write —
	// an observer of another process's counters. A write through such a
	// mapping faults. Create ignores it.
	ReadOnly bool
	// ReadyWait bounds how long Open and OpenFd wait for a creator that has
	// not finished the segment (the file still empty, or the header's magic
	// still zero), polling every millisecond, before they return
	// ErrNotReady. 0 means DefaultReadyWait; negative means no wait.
	ReadyWait time.Duration
}

// DefaultMaxLength is Options.MaxLength's default for Open and OpenFd.
const DefaultMaxLength = 1 << 30

// DefaultReadyWait is Options.ReadyWait's default: ample for a creator
// between its open and its header store, which are a few system calls
// apart.
const DefaultReadyWait = 100 * time.Millisecond

// Segment is a mapped shared-memory segment. Its methods are safe for
// concurrent use; Close must not race with use of Bytes.
type Segment struct {
	mem    []byte
	fd     int
	path   string // named segments only
	owner  bool   // created (not opened) by this process
	hdr    Header
	closed atomic.Bool
}

// Create makes a segment with room for a body of bodyLength bytes after the
// header, rounded up to whole pages: a memfd, sized and sealed with
// F_SEAL_SHRINK|F_SEAL_GROW before it is mapped MAP_SHARED|MAP_POPULATE (or
// without MAP_POPULATE when opts.Sparse), and its header written, magic
// last. With opts.Name it is then published as Dir/Name (publish, in
// named.go); a name whose creator is gone is taken over, a live one is
// refused with an error wrapping fs.ErrExist. Cost: a handful of syscalls
// plus zero-filling the pages.
func Create(bodyLength int, opts Options) (*Segment, error) {
	if bodyLength <= 0 || uint64(bodyLength) > MaxLength-HeaderLength {
		return nil, msg.Errorf("%w: body length %d (want 1…%d)", ErrInvalidSize, bodyLength, uint64(MaxLength-HeaderLength))
	}
	var path string
	if opts.Name != "" {
		var err error
		if path, err = segmentPath(opts); err != nil {
			return nil, err
		}
	}
	page := os.Getpagesize()
	total := (HeaderLength + bodyLength + page - 1) / page * page
	fd, err := unix.MemfdCreate("spinwire", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return nil, msg.Errorf("layout: memfd_create: %w", err)
	}
	fail := func(err error) (*Segment, error) {
		unix.Close(fd)
		return nil, err
	}
	if err := unix.Ftruncate(fd, int64(total)); err != nil {
		return fail(msg.Errorf("layout: ftruncate %d: %w", total, err))
	}
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, requiredSeals); err != nil {
		return fail(msg.Errorf("layout: seal: %w", err))
	}
	mem, err := mapFd(fd, total, opts)
	if err != nil {
		return fail(err)
	}
	epoch := opts.Epoch
	if epoch == 0 {
		epoch = uint64(time.Now().UnixNano())
	}
	h := Header{
		Version:     HeaderVersion,
		TotalLength: uint64(total),
		Fingerprint: opts.Fingerprint,
		CreatorPID:  uint32(os.Getpid()),
		Epoch:       epoch,
	}
	writeHeader(mem, h)
	s := &Segment{mem: mem, fd: fd, owner: true, hdr: h}
	if path != "" {
		if err := publish(path, fd); err != nil {
			unix.Munmap(mem)
			return fail(err)
		}
		s.path = path
	}
	return s, nil
}

// OpenFd maps the segment behind fd — typically a memfd received with
// SCM_RIGHTS — after checking its seals, its size against opts.MaxLength
// and its header (read with pread, nothing mapped yet), waiting for a
// creator still writing it up to opts.ReadyWait (then ErrNotReady). Errors
// wrap ErrNotSealed, ErrTooShort, ErrBadMagic, ErrVersion or ErrBadLength
// with the values seen, or are a *MismatchError. The Segment takes
// ownership of fd on success; on error fd is left open for the caller.
func OpenFd(fd int, opts Options) (*Segment, error) {
	if fd < 0 {
		return nil, msg.Errorf("%w: fd %d", ErrInvalidSize, fd)
	}
	return openFd(fd, opts)
}

func openFd(fd int, opts Options) (*Segment, error) {
	if !opts.AllowUnsealed {
		if err := checkSeals(fd); err != nil {
			return nil, err
		}
	}
	wait := opts.ReadyWait
	if wait == 0 {
		wait = DefaultReadyWait
	}
	r := readiness{deadline: time.Now().Add(wait), wait: max(wait, 0)}
	size, err := r.sized(fd)
	if err != nil {
		return nil, err
	}
	maxLen := opts.MaxLength
	if maxLen <= 0 {
		maxLen = DefaultMaxLength
	}
	if size < HeaderLength {
		return nil, msg.Errorf("%w: file is %d bytes, header needs %d", ErrTooShort, size, HeaderLength)
	}
	if size > maxLen {
		return nil, msg.Errorf("%w: file is %d bytes, more than Options.MaxLength (%d)", ErrInvalidSize, size, maxLen)
	}
	if _, err := r.header(fd, size, opts.Fingerprint); err != nil {
		return nil, err
	}
	mem, err := mapFd(fd, int(size), opts)
	if err != nil {
		return nil, err
	}
	// Checked again where it will be used: the header read before the
	// mapping could have changed since.
	h, err := CheckHeader(mem, size, opts.Fingerprint)
	if err != nil {
		unix.Munmap(mem)
		return nil, err
	}
	return &Segment{mem: mem, fd: fd, hdr: h}, nil
}

// checkSeals refuses a file that a peer could shrink or grow under us.
func checkSeals(fd int) error {
	seals, err := unix.FcntlInt(uintptr(fd), unix.F_GET_SEALS, 0)
	if err != nil {
		return msg.Errorf("%w: F_GET_SEALS: %v (not a memfd: a peer could truncate it under its readers)", ErrNotSealed, err)
	}
	if seals&requiredSeals != requiredSeals {
		return msg.Errorf("%w: seals %#x lack %#x (a peer could truncate it under its readers)", ErrNotSealed, seals, requiredSeals)
	}
	return nil
}

// readiness waits, up to a deadline, for a creator to finish a segment: a
// memfd passed before its creator sized it is empty, and every segment's
// magic is zero until its creator's last header store.
type readiness struct {
	deadline time.Time
	wait     time.Duration // for messages
}

// sized returns the size of the file behind fd once it is not empty.
func (r *readiness) sized(fd int) (int64, error) {
	for {
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			return 0, msg.Errorf("layout: fstat: %w", err)
		}
		if st.Size != 0 {
			return st.Size, nil
		}
		if !r.pause() {
			return 0, msg.Errorf("%w (the file is still empty; waited %v)", ErrNotReady, r.wait)
		}
	}
}

// header reads the header of the file behind fd with pread — mapping
// nothing, populating nothing — and returns it checked once its magic is
// not zero. A hole reads as zeroes without allocating a page.
func (r *readiness) header(fd int, size int64, fingerprint uint64) (Header, error) {
	var buf [HeaderLength]byte
	for {
		n, err := unix.Pread(fd, buf[:], 0)
		if err != nil {
			return Header{}, msg.Errorf("layout: read header: %w", err)
		}
		if n < HeaderLength {
			return Header{}, msg.Errorf("%w: read %d header bytes of %d", ErrTooShort, n, HeaderLength)
		}
		if binary.LittleEndian.Uint64(buf[MagicOffset:]) != 0 {
			return checkHeader(buf[:], size, fingerprint)
		}
		if !r.pause() {
			return Header{}, msg.Errorf("%w (its magic is still zero; waited %v)", ErrNotReady, r.wait)
		}
	}
}

// pause sleeps a millisecond and reports true, or reports false once the
// deadline has passed.
func (r *readiness) pause() bool {
	if !time.Now().Before(r.deadline) {
		return false
	}
	time.Sleep(time.Millisecond)
	return true
}

func mapFd(fd, length int, opts Options) ([]byte, error) {
	flags := unix.MAP_SHARED | unix.MAP_POPULATE
	if opts.Sparse {
		flags = unix.MAP_SHARED
	}
	prot := unix.PROT_READ | unix.PROT_WRITE
	if opts.ReadOnly {
		prot = unix.PROT_READ
	}
	mem, err := unix.Mmap(fd, 0, length, prot, flags)
	if err != nil {
		return nil, msg.Errorf("layout: mmap %d bytes: %w", length, err)
	}
	if opts.Mlock {
		if err := unix.Mlock(mem); err != nil {
			unix.Munmap(mem)
			return nil, msg.Errorf("layout: mlock %d bytes (raise RLIMIT_MEMLOCK): %w", length, err)
		}
	}
	return mem, nil
}

func segmentPath(opts Options) (string, error) {
	n := opts.Name
	if n == "." || n == ".." || strings.ContainsAny(n, "/\x00") || len(n) > 200 {
		return "", msg.Errorf("%w: %q", ErrInvalidName, n)
	}
	dir := opts.Dir
	if dir == "" {
		dir = DefaultDir
	}
	return filepath.Join(dir, n), nil
}

// Bytes returns the whole mapped segment, header included. The slice is
// valid until Close; writing the header region corrupts the segment.
func (s *Segment) Bytes() []byte { return s.mem }

// Body returns the bytes after the header: where callers lay out regions.
// Its first byte is 128-byte aligned.
func (s *Segment) Body() []byte { return s.mem[HeaderLength:] }

// Header returns the validated header copied at Create or Open.
func (s *Segment) Header() Header { return s.hdr }

// Fd returns the segment's file descriptor, for passing with SCM_RIGHTS. It
// stays owned by the Segment.
func (s *Segment) Fd() int { return s.fd }

// SealWrites seals the segment's memfd F_SEAL_FUTURE_WRITE: from now on
// no process can write(2) it, punch holes in it or map it writable, while
// the writable mappings that exist, this Segment's included, keep
// working. A read-only descriptor alone does not keep a receiver from
// writing: a memfd's mode is 0777, so whoever holds one reopens it
// read-write through /proc/self/fd. Call SealWrites before handing the
// descriptor to a process that may only read. It needs Linux 5.1; one
// fcntl(2).
func (s *Segment) SealWrites() error {
	if _, err := unix.FcntlInt(uintptr(s.fd), unix.F_ADD_SEALS, unix.F_SEAL_FUTURE_WRITE); err != nil {
		return msg.Errorf("layout: seal against writes: %w", err)
	}
	return nil
}

// Path returns the file of a named segment, or "" for a memfd.
func (s *Segment) Path() string { return s.path }

// ReleaseFd closes the descriptor of a segment this process opened, not
// created (a creator's name leads through its descriptor), and keeps the
// mapping until Close: for a process that maps many small segments and
// needs nothing of them but the memory. Fd returns -1 after it.
func (s *Segment) ReleaseFd() error {
	if s.owner || s.fd < 0 {
		return msg.Errorf("layout: ReleaseFd of a segment this process created, or released already")
	}
	fd := s.fd
	s.fd = -1
	return unix.Close(fd)
}

// Close unmaps the segment and closes its descriptor. The creator of a named
// segment also removes its name (processes that opened it keep their
// mappings). A second Close returns ErrClosed.
func (s *Segment) Close() error {
	if !s.closed.CompareAndSwap(false, true) {
		return ErrClosed
	}
	var err error
	if s.owner && s.path != "" {
		err = unpublish(s.path, s.fd)
	}
	if merr := unix.Munmap(s.mem); err == nil {
		err = merr
	}
	s.mem = nil
	if s.fd >= 0 {
		if cerr := unix.Close(s.fd); err == nil {
			err = cerr
		}
	}
	return err
}
