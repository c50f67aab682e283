package layout

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

type quote struct {
	Seq   uint64
	Bid   float64
	Ask   float64
	Sizes [4]int32
	Flags uint8
	_     [7]byte
}

type quoteV2 struct { // Ask and Bid swapped
	Seq   uint64
	Ask   float64
	Bid   float64
	Sizes [4]int32
	Flags uint8
	_     [7]byte
}

type book struct {
	Levels [3]quote
	Depth  [2][4]uint16
	N      int64
}

func TestHeaderMagicIsSpinwire(t *testing.T) {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], HeaderMagic)
	if string(b[:]) != magicString {
		t.Fatalf("magic bytes %q, want %q", b[:], magicString)
	}
}

func validHeader(t *testing.T) []byte {
	t.Helper()
	b := make([]byte, 4096)
	writeHeader(b, Header{Version: HeaderVersion, TotalLength: 4096, Fingerprint: 42, CreatorPID: 7, Epoch: 9})
	return b
}

func TestCheckHeader(t *testing.T) {
	h, err := CheckHeader(validHeader(t), 4096, 42)
	if err != nil {
		t.Fatal(err)
	}
	if h != (Header{Version: HeaderVersion, TotalLength: 4096, Fingerprint: 42, CreatorPID: 7, Epoch: 9}) {
		t.Fatalf("header %+v", h)
	}
	if _, err := CheckHeader(validHeader(t), -1, 0); err != nil {
		t.Fatalf("any fingerprint, unknown file length: %v", err)
	}
	le := binary.LittleEndian
	cases := []struct {
		name    string
		mutate  func(b []byte) []byte
		fileLen int64
		want    error
		text    string
	}{
		{"short buffer", func(b []byte) []byte { return b[:HeaderLength-1] }, 4096, ErrTooShort, "127 bytes"},
		{"bad magic", func(b []byte) []byte { copy(b, "NOTSPINW"); return b }, 4096, ErrBadMagic, `"NOTSPINW"`},
		{"version", func(b []byte) []byte { le.PutUint32(b[VersionOffset:], 99); return b }, 4096, ErrVersion, "version 99"},
		{"header length", func(b []byte) []byte { le.PutUint32(b[HeaderLenOffset:], 64); return b }, 4096, ErrBadLength, "header length 64"},
		{"total length zero", func(b []byte) []byte { le.PutUint64(b[TotalLengthOffset:], 0); return b }, 4096, ErrBadLength, "total length 0"},
		{"total length huge", func(b []byte) []byte { le.PutUint64(b[TotalLengthOffset:], 1<<62); return b }, 4096, ErrBadLength, "total length"},
		{"total length vs file", func(b []byte) []byte { return b }, 8192, ErrBadLength, "file has 8192"},
		{"total length vs mapping", func(b []byte) []byte { return b[:2048] }, -1, ErrTooShort, "2048 mapped"},
		{"fingerprint", func(b []byte) []byte { le.PutUint64(b[FingerprintOffset:], 43); return b }, 4096, ErrLayoutMismatch, "segment: fingerprint 0x000000000000002a here, fingerprint 0x000000000000002b at the peer"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := CheckHeader(c.mutate(validHeader(t)), c.fileLen, 42)
			if !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.text) {
				t.Fatalf("err = %v, want %v mentioning %q", err, c.want, c.text)
			}
		})
	}
}

func FuzzCheckHeader(f *testing.F) {
	b := make([]byte, HeaderLength)
	writeHeader(b, Header{Version: HeaderVersion, TotalLength: HeaderLength + 8, Fingerprint: 1})
	f.Add(b, int64(HeaderLength+8), uint64(1))
	f.Add(make([]byte, 10), int64(0), uint64(0))
	f.Fuzz(func(t *testing.T, raw []byte, fileLen int64, fp uint64) {
		// Copy into an 8-aligned buffer, as a mapping would be.
		buf := make([]uint64, (len(raw)+7)/8)
		b := unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(buf))), len(buf)*8)[:len(raw)]
		copy(b, raw)
		h, err := CheckHeader(b, fileLen, fp)
		if err == nil && (h.TotalLength > uint64(len(b)) || h.Version != HeaderVersion) {
			t.Fatalf("accepted %+v for %d bytes", h, len(b))
		}
	})
}

func TestCreateOpenMemfd(t *testing.T) {
	s, err := Create(1000, Options{Fingerprint: 0xfeed, Epoch: 5})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := len(s.Bytes()); got != os.Getpagesize()*((HeaderLength+1000+os.Getpagesize()-1)/os.Getpagesize()) {
		t.Fatalf("mapped %d bytes", got)
	}
	if len(s.Body()) != len(s.Bytes())-HeaderLength || s.Path() != "" {
		t.Fatalf("body %d path %q", len(s.Body()), s.Path())
	}
	s.Body()[0] = 0xAB
	// A second mapping through a dup of the fd sees the same bytes.
	fd, err := unix.Dup(s.Fd())
	if err != nil {
		t.Fatal(err)
	}
	o, err := OpenFd(fd, Options{Fingerprint: 0xfeed})
	if err != nil {
		unix.Close(fd)
		t.Fatal(err)
	}
	defer o.Close()
	if o.Body()[0] != 0xAB || o.Header() != s.Header() || o.Header().Epoch != 5 || o.Header().CreatorPID != uint32(os.Getpid()) {
		t.Fatalf("peer sees %#x, header %+v vs %+v", o.Body()[0], o.Header(), s.Header())
	}
	// Seals hold: the file cannot shrink or grow under a reader.
	if err := unix.Ftruncate(s.Fd(), 0); err == nil {
		t.Fatal("sealed memfd was truncated")
	}
	// Wrong fingerprint refused.
	fd2, _ := unix.Dup(s.Fd())
	defer unix.Close(fd2)
	if _, err := OpenFd(fd2, Options{Fingerprint: 0xbeef}); !errors.Is(err, ErrLayoutMismatch) {
		t.Fatalf("wrong fingerprint: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); !errors.Is(err, ErrClosed) {
		t.Fatalf("second close: %v", err)
	}
}

func TestOpenFdRefusesUnsealed(t *testing.T) {
	fd, err := unix.MemfdCreate("unsealed", unix.MFD_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	unix.Ftruncate(fd, 4096)
	if _, err := OpenFd(fd, Options{}); !errors.Is(err, ErrNotSealed) {
		t.Fatalf("unsealed memfd: %v", err)
	}
	// Allowed explicitly, it is then judged by its header: all zero, so
	// not written yet.
	if _, err := OpenFd(fd, Options{AllowUnsealed: true, ReadyWait: -1}); !errors.Is(err, ErrNotReady) {
		t.Fatalf("zero header: %v", err)
	}
	if _, err := OpenFd(-1, Options{}); err == nil {
		t.Fatal("fd -1 accepted")
	}
	// Sealed but short.
	fd3, _ := unix.MemfdCreate("short", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	defer unix.Close(fd3)
	unix.Ftruncate(fd3, 64)
	unix.FcntlInt(uintptr(fd3), unix.F_ADD_SEALS, requiredSeals)
	if _, err := OpenFd(fd3, Options{}); !errors.Is(err, ErrTooShort) {
		t.Fatalf("short memfd: %v", err)
	}
}

func TestNamedSegment(t *testing.T) {
	dir := t.TempDir()
	s, err := Create(64, Options{Name: "seg", Dir: dir, Fingerprint: 3})
	if err != nil {
		t.Fatal(err)
	}
	target, err := os.Readlink(filepath.Join(dir, "seg"))
	if want := "/proc/" + strconv.Itoa(os.Getpid()) + "/fd/" + strconv.Itoa(s.Fd()); err != nil || target != want {
		t.Fatalf("name leads to %q (%v), want %q", target, err, want)
	}
	if _, err := Create(64, Options{Name: "seg", Dir: dir}); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("second Create of a live name: %v", err)
	}
	o, err := Open(Options{Name: "seg", Dir: dir, Fingerprint: 3})
	if err != nil {
		t.Fatal(err)
	}
	s.Body()[5] = 77
	if o.Body()[5] != 77 || o.Path() != filepath.Join(dir, "seg") {
		t.Fatal("named mapping not shared")
	}
	// An opener may give its descriptor up and keep the mapping; a
	// creator may not (its name leads through it).
	if err := o.ReleaseFd(); err != nil || o.Fd() != -1 || o.ReleaseFd() == nil || s.ReleaseFd() == nil {
		t.Fatalf("ReleaseFd: %v, fd %d", err, o.Fd())
	}
	s.Body()[6] = 78
	if o.Body()[6] != 78 {
		t.Fatal("the mapping went with the descriptor")
	}
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	// A read-only opener sees the creator's writes and cannot write: its
	// descriptor is O_RDONLY, so no writable mapping can be made of it.
	ro, err := Open(Options{Name: "seg", Dir: dir, ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	if ro.Body()[5] != 77 {
		t.Fatal("read-only mapping not shared")
	}
	if _, err := unix.Mmap(ro.Fd(), 0, 4096, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED); err == nil {
		t.Fatal("a writable mapping of a read-only opener's descriptor")
	}
	ro.Close()
	if _, err := os.Lstat(filepath.Join(dir, "seg")); err != nil {
		t.Fatal("opener's Close removed the name")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(filepath.Join(dir, "seg")); !os.IsNotExist(err) {
		t.Fatal("creator's Close left the name")
	}
	if _, err := Open(Options{Name: "seg", Dir: dir}); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("opened a removed segment: %v", err)
	}
}

// TestNamedSegmentRefusesPlainFiles: a plain file at the name — which a
// peer could truncate under the reader, killing it with SIGBUS at its next
// access — is refused before it is mapped, also when the peer truncates it
// after writing a valid header; with AllowUnsealed its header is still
// checked like any other.
func TestNamedSegmentRefusesPlainFiles(t *testing.T) {
	dir := t.TempDir()
	page := make([]byte, 4096)
	writeHeader(page, Header{Version: HeaderVersion, TotalLength: 4096, Fingerprint: 3})
	plain := filepath.Join(dir, "plain")
	os.WriteFile(plain, page, 0o600)
	const why = "a peer could truncate it under its readers"
	if _, err := Open(Options{Name: "plain", Dir: dir}); !errors.Is(err, ErrNotSealed) || !strings.Contains(err.Error(), why) || !strings.Contains(err.Error(), plain) {
		t.Fatalf("plain file: %v", err)
	}
	os.Truncate(plain, 100) // the truncating peer
	if _, err := Open(Options{Name: "plain", Dir: dir}); !errors.Is(err, ErrNotSealed) {
		t.Fatalf("truncated plain file: %v", err)
	}
	if _, err := Open(Options{Name: "plain", Dir: dir, AllowUnsealed: true}); !errors.Is(err, ErrTooShort) {
		t.Fatalf("truncated plain file, unsealed allowed: %v", err)
	}
	os.WriteFile(filepath.Join(dir, "junk"), bytes.Repeat([]byte("junk"), 2048), 0o600)
	if _, err := Open(Options{Name: "junk", Dir: dir, AllowUnsealed: true}); !errors.Is(err, ErrBadMagic) || !strings.Contains(err.Error(), `"junkjunk"`) {
		t.Fatalf("junk: %v", err)
	}
	os.Symlink("/dev/null", filepath.Join(dir, "device"))
	if _, err := Open(Options{Name: "device", Dir: dir, AllowUnsealed: true}); !errors.Is(err, ErrNotSealed) || !strings.Contains(err.Error(), "not a segment") {
		t.Fatalf("link to a device: %v", err)
	}
}

// TestNamedSegmentCannotBeTruncated: a reader's peer — even one that opens
// the name for writing — cannot shrink or grow the segment under it.
func TestNamedSegmentCannotBeTruncated(t *testing.T) {
	dir := t.TempDir()
	s, err := Create(8192, Options{Name: "seg", Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	r, err := Open(Options{Name: "seg", Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	f, err := os.OpenFile(filepath.Join(dir, "seg"), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, n := range []int64{0, 100, 1 << 20} {
		if err := f.Truncate(n); !errors.Is(err, unix.EPERM) {
			t.Fatalf("truncate to %d: %v (want EPERM)", n, err)
		}
	}
	b := r.Bytes()
	if b[len(b)-1] != 0 { // the last page is still there to read
		t.Fatal("last byte")
	}
}

// TestCreateTakesOverAStaleName: a name whose creator has gone is taken
// over; a live one and a file that is not such a link are not.
func TestCreateTakesOverAStaleName(t *testing.T) {
	dir := t.TempDir()
	dead := filepath.Join(dir, "dead")
	os.Symlink("/proc/"+strconv.Itoa(os.Getpid())+"/fd/999999", dead)
	s, err := Create(64, Options{Name: "dead", Dir: dir})
	if err != nil {
		t.Fatalf("stale name: %v", err)
	}
	s.Close()
	os.WriteFile(filepath.Join(dir, "file"), nil, 0o600)
	if _, err := Create(64, Options{Name: "file", Dir: dir}); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("a plain file at the name: %v", err)
	}
	os.Symlink("/nowhere/at/all", filepath.Join(dir, "other"))
	if _, err := Create(64, Options{Name: "other", Dir: dir}); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("someone else's dangling link: %v", err)
	}
}

// TestOpenFdChecksBeforeMapping: a sealed, sparse 2 GiB memfd is refused —
// a garbage header, or a valid one over Options.MaxLength — without one of
// its pages being allocated.
func TestOpenFdChecksBeforeMapping(t *testing.T) {
	const size = 2 << 30
	hostile := func(t *testing.T, h *Header) int {
		fd, err := unix.MemfdCreate("hostile", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { unix.Close(fd) })
		if err := unix.Ftruncate(fd, size); err != nil {
			t.Fatal(err)
		}
		page := bytes.Repeat([]byte{0xA5}, 128)
		if h != nil {
			writeHeader(page, *h)
		}
		unix.Pwrite(fd, page, 0)
		unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, requiredSeals)
		return fd
	}
	blocks := func(fd int) int64 {
		var st unix.Stat_t
		unix.Fstat(fd, &st)
		return st.Blocks
	}
	fd := hostile(t, nil)
	before := blocks(fd)
	if _, err := OpenFd(fd, Options{MaxLength: 4 << 30}); !errors.Is(err, ErrBadMagic) {
		t.Fatalf("garbage header: %v", err)
	}
	fd2 := hostile(t, &Header{Version: HeaderVersion, TotalLength: size})
	if _, err := OpenFd(fd2, Options{}); !errors.Is(err, ErrInvalidSize) || !strings.Contains(err.Error(), "MaxLength") {
		t.Fatalf("2 GiB over the default MaxLength: %v", err)
	}
	if a, b := blocks(fd), blocks(fd2); a != before || b != before {
		t.Fatalf("allocated blocks %d and %d after the refusals, %d before", a, b, before)
	}
}

// TestOpenNotReady opens segments whose creator has not finished them: a
// header still all zero, a named file still empty. The opener waits
// ReadyWait, then says the segment is not ready — or opens it once the
// creator's header store lands.
func TestOpenNotReady(t *testing.T) {
	const prefix = "layout: segment not ready: its creator has not finished writing the header"
	zero := func(t *testing.T) int {
		fd, err := unix.MemfdCreate("zero", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { unix.Close(fd) })
		unix.Ftruncate(fd, 4096)
		unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, requiredSeals)
		return fd
	}
	t.Run("zero_header", func(t *testing.T) {
		_, err := OpenFd(zero(t), Options{ReadyWait: 5 * time.Millisecond})
		if want := prefix + " (its magic is still zero; waited 5ms)"; !errors.Is(err, ErrNotReady) || err.Error() != want {
			t.Fatalf("got  %v\nwant %s", err, want)
		}
	})
	t.Run("zero_header_default_wait", func(t *testing.T) {
		_, err := OpenFd(zero(t), Options{})
		if want := prefix + " (its magic is still zero; waited 100ms)"; !errors.Is(err, ErrNotReady) || err.Error() != want {
			t.Fatalf("got  %v\nwant %s", err, want)
		}
	})
	t.Run("empty_memfd", func(t *testing.T) {
		fd, err := unix.MemfdCreate("empty", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
		if err != nil {
			t.Fatal(err)
		}
		defer unix.Close(fd)
		_, err = OpenFd(fd, Options{ReadyWait: -1, AllowUnsealed: true})
		if want := prefix + " (the file is still empty; waited 0s)"; !errors.Is(err, ErrNotReady) || err.Error() != want {
			t.Fatalf("got  %v\nwant %s", err, want)
		}
	})
	t.Run("header_lands_while_waiting", func(t *testing.T) {
		fd := zero(t)
		mem, err := unix.Mmap(fd, 0, 4096, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
		if err != nil {
			t.Fatal(err)
		}
		defer unix.Munmap(mem)
		done := make(chan struct{})
		go func() {
			defer close(done)
			time.Sleep(10 * time.Millisecond)
			writeHeader(mem, Header{Version: HeaderVersion, TotalLength: 4096, Fingerprint: 9})
		}()
		dup, _ := unix.Dup(fd)
		s, err := OpenFd(dup, Options{Fingerprint: 9, ReadyWait: time.Minute})
		<-done
		if err != nil {
			unix.Close(dup)
			t.Fatal(err)
		}
		s.Close()
	})
}

func TestCreateBadArguments(t *testing.T) {
	for _, n := range []int{0, -1, MaxLength} {
		if _, err := Create(n, Options{}); !errors.Is(err, ErrInvalidSize) || !strings.Contains(err.Error(), "length") {
			t.Errorf("Create(%d): %v", n, err)
		}
	}
	for _, name := range []string{"a/b", "..", ".", strings.Repeat("x", 300), "nul\x00"} {
		if _, err := Create(8, Options{Name: name, Dir: t.TempDir()}); !errors.Is(err, ErrInvalidName) {
			t.Errorf("Create name %q: %v", name, err)
		}
		if _, err := Open(Options{Name: name}); !errors.Is(err, ErrInvalidName) {
			t.Errorf("Open name %q: %v", name, err)
		}
	}
	if _, err := Open(Options{}); !errors.Is(err, ErrInvalidName) {
		t.Errorf("Open without name: %v", err)
	}
	if _, err := Create(8, Options{Name: "x", Dir: "/nonexistent/dir"}); err == nil {
		t.Error("Create in a missing directory succeeded")
	}
}

func TestSparse(t *testing.T) {
	s, err := Create(64<<20, Options{Sparse: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.Body()[len(s.Body())-1] = 1 // touching one page works
	fd, _ := unix.Dup(s.Fd())
	o, err := OpenFd(fd, Options{Sparse: true})
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	if o.Body()[len(o.Body())-1] != 1 {
		t.Fatal("sparse mapping not shared")
	}
}

func TestMlock(t *testing.T) {
	s, err := Create(4096, Options{Mlock: true})
	if err != nil {
		t.Skipf("mlock not permitted here: %v", err)
	}
	s.Close()
}

func TestOfAcceptsFixedLayout(t *testing.T) {
	s, err := Of[quote]()
	if err != nil {
		t.Fatal(err)
	}
	if s.Size != 48 || s.Align != 8 || s.Name != "layout.quote" {
		t.Fatalf("schema %+v", s)
	}
	want := []Field{
		{Path: "Seq", Offset: 0, Size: 8, Kind: "uint64"},
		{Path: "Bid", Offset: 8, Size: 8, Kind: "float64"},
		{Path: "Ask", Offset: 16, Size: 8, Kind: "float64"},
		{Path: "Sizes", Offset: 24, Size: 16, Kind: "int32", Len: 4},
		{Path: "Flags", Offset: 40, Size: 1, Kind: "uint8"},
		{Path: "_", Offset: 41, Size: 7, Kind: "uint8", Len: 7},
	}
	if !reflect.DeepEqual(s.Fields, want) {
		t.Fatalf("fields\n%v\nwant\n%v", s.Fields, want)
	}
	again := MustOf[quote]()
	if again != s {
		t.Fatal("schema not cached")
	}
	b, err := Of[book]()
	if err != nil {
		t.Fatal(err)
	}
	if b.Fields[0] != (Field{Path: "Levels", Size: 144, Kind: "struct", Len: 3}) || b.Fields[1].Path != "Levels[].Seq" {
		t.Fatalf("nested fields %v", b.Fields[:2])
	}
	if b.Fingerprint == s.Fingerprint {
		t.Fatal("different types share a fingerprint")
	}
}

func TestOfRefuses(t *testing.T) {
	type withPtr struct{ P *int64 }
	type withString struct{ S string }
	type withSlice struct{ S []byte }
	type withMap struct{ M map[int64]int64 }
	type withIface struct{ I any }
	type withFunc struct{ F func() }
	type withChan struct{ C chan int64 }
	type withUnsafe struct{ P unsafe.Pointer }
	type withUintptr struct{ P uintptr }
	type withBool struct {
		B bool
		_ [7]byte
	}
	type withInt struct{ N int }
	type gap struct {
		A uint8
		B uint64
	}
	type tail struct {
		A uint64
		B uint8
	}
	type odd struct{ A [3]byte }
	type deep struct {
		A [2]struct{ P *byte }
	}
	cases := []struct {
		t    reflect.Type
		text string
	}{
		{reflect.TypeFor[withPtr](), "field P is *int64, which holds a pointer, meaningless in another process: use an offset (uint32/uint64) into the region"},
		{reflect.TypeFor[withString](), "field S is string, which holds a pointer, meaningless in another process: use a fixed-size [N]byte array (and a length field if the text is shorter)"},
		{reflect.TypeFor[withSlice](), "field S is []uint8, which holds a pointer, meaningless in another process: use a fixed-size array [N]uint8 (and a count field)"},
		{reflect.TypeFor[withMap](), "field M is map[int64]int64, which holds a pointer, meaningless in another process: use a fixed-size array of key and value structs"},
		{reflect.TypeFor[withIface](), "field I is interface {}, which holds a pointer, meaningless in another process: use a concrete fixed-layout type"},
		{reflect.TypeFor[withFunc](), "field F is func(), which cannot be shared between processes: keep it out of the shared type"},
		{reflect.TypeFor[withChan](), "field C is chan int64, which cannot be shared"},
		{reflect.TypeFor[withUnsafe](), "field P is unsafe.Pointer, which holds a pointer, meaningless in another process: use an offset (uint32/uint64) into the region"},
		{reflect.TypeFor[withUintptr](), "field P is uintptr, an address, meaningless in another process: use an offset (uint32/uint64) into the region"},
		{reflect.TypeFor[withBool](), "B is bool"},
		{reflect.TypeFor[withInt](), "N is int: use a sized integer (int64)"},
		{reflect.TypeFor[gap](), "7 bytes before field B at offset 8"},
		{reflect.TypeFor[tail](), "7 bytes at the end"},
		{reflect.TypeFor[odd](), "3 bytes"},
		{reflect.TypeFor[deep](), "field A[].P is *uint8, which holds a pointer"},
		{reflect.TypeFor[int](), "(root) is int"},
		{reflect.TypeFor[struct{}](), "0 bytes"},
	}
	for _, c := range cases {
		_, err := SchemaOf(c.t)
		if !errors.Is(err, ErrNotFixedLayout) || !strings.Contains(err.Error(), c.text) {
			t.Errorf("%v: %v (want mention of %q)", c.t, err, c.text)
		}
	}
	if _, err := SchemaOf(nil); !errors.Is(err, ErrNotFixedLayout) {
		t.Errorf("nil: %v", err)
	}
	defer func() {
		if recover() == nil {
			t.Error("MustOf did not panic on a bad type")
		}
	}()
	MustOf[withPtr]()
}

func TestDiffNamesTheField(t *testing.T) {
	a, b := MustOf[quote](), MustOf[quoteV2]()
	if err := a.Diff(a); err != nil {
		t.Fatal(err)
	}
	type shorter struct{ Seq uint64 }
	type seqInt struct{ Seq int64 }
	type seqPad struct {
		Seq uint64
		Arr [4]int32
	}
	type seqArr struct {
		Seq uint64
		Arr [4]uint32
	}
	type inserted struct {
		Seq uint64
		New int64
		Arr [4]int32
	}
	// Same fields, different declared size: only the size can be named.
	wide := *MustOf[shorter]()
	wide.Size, wide.Fingerprint = 16, 1
	for _, c := range []struct {
		name        string
		ours, peers *Schema
		want        MismatchError
	}{
		{"swapped fields", a, b,
			MismatchError{"layout.quote", "Bid", "float64 at 8 (8 B)", "float64 at 16 (8 B)"}},
		{"swapped fields, seen from the peer", b, a,
			MismatchError{"layout.quoteV2", "Ask", "float64 at 8 (8 B)", "float64 at 16 (8 B)"}},
		{"field only here", a, MustOf[shorter](),
			MismatchError{"layout.quote", "Bid", "float64 at 8 (8 B)", "absent"}},
		{"field only at the peer", MustOf[shorter](), a,
			MismatchError{"layout.shorter", "Bid", "absent", "float64 at 8 (8 B)"}},
		{"kind differs", MustOf[shorter](), MustOf[seqInt](),
			MismatchError{"layout.shorter", "Seq", "uint64 at 0 (8 B)", "int64 at 0 (8 B)"}},
		{"kind differs, other way", MustOf[seqInt](), MustOf[shorter](),
			MismatchError{"layout.seqInt", "Seq", "int64 at 0 (8 B)", "uint64 at 0 (8 B)"}},
		{"array element kind", MustOf[seqPad](), MustOf[seqArr](),
			MismatchError{"layout.seqPad", "Arr", "[4]int32 at 8 (16 B)", "[4]uint32 at 8 (16 B)"}},
		{"field inserted at the peer moves ours", MustOf[seqPad](), MustOf[inserted](),
			MismatchError{"layout.seqPad", "Arr", "[4]int32 at 8 (16 B)", "[4]int32 at 16 (16 B)"}},
		{"field inserted here", MustOf[inserted](), MustOf[seqPad](),
			MismatchError{"layout.inserted", "New", "int64 at 8 (8 B)", "absent"}},
		{"size only", MustOf[shorter](), &wide,
			MismatchError{"layout.shorter", "", "8 B aligned 8 (fingerprint " + hex16(MustOf[shorter]().Fingerprint) + ")",
				"16 B aligned 8 (fingerprint 0x0000000000000001)"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := c.ours.Diff(c.peers)
			var m *MismatchError
			if !errors.Is(err, ErrLayoutMismatch) || !errors.As(err, &m) {
				t.Fatalf("%v: not a *MismatchError", err)
			}
			if *m != c.want {
				t.Fatalf("got  %+v\nwant %+v", *m, c.want)
			}
		})
	}
}

func TestMismatchErrorText(t *testing.T) {
	e := &MismatchError{What: "ring Tick", Field: "Qty", Ours: "int32 at 16 (4 B)", Theirs: "uint32 at 16 (4 B)"}
	if got, want := e.Error(), "layout: layout mismatch: ring Tick: field Qty: int32 at 16 (4 B) here, uint32 at 16 (4 B) at the peer"; got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	f := FingerprintMismatch("", 0x2b, 0xbeef)
	if got, want := f.Error(), "layout: layout mismatch: fingerprint 0x000000000000002b here, fingerprint 0x000000000000beef at the peer"; got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	if errors.Is(e, ErrBadSchema) {
		t.Error("a mismatch is ErrBadSchema")
	}
}

func TestEncodeDecodeSchema(t *testing.T) {
	for _, s := range []*Schema{MustOf[quote](), MustOf[book]()} {
		d, err := DecodeSchema(s.Encode())
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(d, s) {
			t.Fatalf("round trip\n%+v\n%+v", d, s)
		}
	}
	for _, bad := range []string{"", "junk", "spinwire-schema 1 8 8 \"x\"\nno quotes here", "spinwire-schema 2 8 8 \"x\"", strings.Repeat("\n", maxSchemaFields+2)} {
		if _, err := DecodeSchema([]byte(bad)); !errors.Is(err, ErrBadSchema) {
			t.Errorf("%q: %v", bad, err)
		}
	}
	if _, err := DecodeSchema(make([]byte, 2<<20)); !errors.Is(err, ErrBadSchema) {
		t.Error("huge schema accepted")
	}
}

// TestSchemaTextIsFmts pins the fingerprinted text and Encode's output to
// what fmt wrote before layout stopped importing it: both are wire
// contracts between peers built from different versions.
func TestSchemaTextIsFmts(t *testing.T) {
	for _, s := range []*Schema{MustOf[quote](), MustOf[book](), MustOf[struct{ A, B uint32 }]()} {
		h := fnv.New64a()
		fmt.Fprintf(h, "%d/%d", s.Size, s.Align)
		var enc strings.Builder
		fmt.Fprintf(&enc, "spinwire-schema 1 %d %d %s\n", s.Size, s.Align, strconv.Quote(s.Name))
		for _, f := range s.Fields {
			fmt.Fprintf(h, "|%s@%d:%s*%d=%d", f.Path, f.Offset, f.Kind, f.Len, f.Size)
			fmt.Fprintf(&enc, "%s %d %d %s %d\n", strconv.Quote(f.Path), f.Offset, f.Size, f.Kind, f.Len)
		}
		if s.Fingerprint != h.Sum64() {
			t.Errorf("%s: fingerprint %#x, fmt's text gives %#x", s.Name, s.Fingerprint, h.Sum64())
		}
		if string(s.Encode()) != enc.String() {
			t.Errorf("%s: Encode\n%s\nfmt wrote\n%s", s.Name, s.Encode(), enc.String())
		}
	}
}

func TestDecodeSchemaLines(t *testing.T) {
	// A type name with spaces and quotes survives; spacing may vary.
	s, err := DecodeSchema([]byte("spinwire-schema 1  8 8 \"struct { A \\\"q\\\" }\"\n\"A\"   0 8 uint64 0\n"))
	if err != nil || s.Name != `struct { A "q" }` || s.Size != 8 || len(s.Fields) != 1 || s.Fields[0].Kind != "uint64" {
		t.Fatalf("%+v %v", s, err)
	}
	for _, bad := range []string{
		"spinwire-schema 1 8 8",                          // a value missing
		"spinwire-schema 1 8 8 \"x\" extra",              // text after the last
		"spinwire-schema 1 -8 8 \"x\"",                   // a negative size
		"spinwire-schema 1 8 8 \"x",                      // an open quote
		"spinwire-schema 1 8 8 \"x\"\n\"a\"0 8 uint64 0", // no space after a quoted value
		"spinwire-schema 1 8 8 \"x\"\n\"a\" 0 8 uint64 one",
		"spinwire-schema 1 99999999999999999999 8 \"x\"",
		"other-schema 1 8 8 \"x\"",
	} {
		if _, err := DecodeSchema([]byte(bad)); !errors.Is(err, ErrBadSchema) {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

func FuzzDecodeSchema(f *testing.F) {
	f.Add(MustOf[book]().Encode())
	f.Add([]byte("spinwire-schema 1 8 8 \"x\"\n\"a\" 0 8 uint64 0\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := DecodeSchema(b)
		if err != nil {
			return
		}
		q := MustOf[quote]()
		for _, err := range []error{s.Diff(q), q.Diff(s)} {
			var m *MismatchError
			if err != nil && (!errors.As(err, &m) || m.Ours == "" || m.Theirs == "") {
				t.Fatalf("%s: %v", b, err)
			}
		}
	})
}

func TestAt(t *testing.T) {
	buf := make([]uint64, 32) // 256 bytes, 8-aligned
	b := unsafe.Slice((*byte)(unsafe.Pointer(&buf[0])), 256)
	q, err := At[quote](b, 48)
	if err != nil {
		t.Fatal(err)
	}
	q.Seq = 99
	if binary.LittleEndian.Uint64(b[48:]) != 99 {
		t.Fatal("At does not alias the buffer")
	}
	if _, err := At[quote](b, 256-48); err != nil {
		t.Fatalf("last slot: %v", err)
	}
	for _, off := range []int{-8, 256 - 40, 256, 1 << 40} {
		if _, err := At[quote](b, off); !errors.Is(err, ErrOutOfBounds) {
			t.Errorf("offset %d: %v", off, err)
		}
	}
	if _, err := At[quote](b, 4); !errors.Is(err, ErrMisaligned) || !strings.Contains(err.Error(), "offset 4") {
		t.Errorf("offset 4: %v", err)
	}
	if _, err := At[struct{ S string }](b, 0); !errors.Is(err, ErrNotFixedLayout) {
		t.Errorf("bad type: %v", err)
	}
}
