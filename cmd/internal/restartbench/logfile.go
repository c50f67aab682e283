package restartbench

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

var (
	errBadLog  = errors.New("restartbench: malformed log")
	errLogFull = errors.New("restartbench: log full")
)

// Log capacities, in records. The memfds are sparse: only the pages the
// records reach are ever allocated.
const (
	callsPerConn  = 1 << 20 // a client's log: this many calls per connection, up to maxLogRecords
	maxLogRecords = 1 << 26 // a server's log, and the largest (1 GiB)
	maxLogLength  = logHeaderLength + maxLogRecords*recordLength
	logFd         = 3 // the log is a child's first inherited descriptor (exec.Cmd.ExtraFiles[0])
)

// logFile is the orchestrator's side of a child's log: the memfd until the
// child has it, and a read-only mapping until the log is read.
type logFile struct {
	f   *os.File
	mem []byte
	w   []uint64
}

// newLogFile creates a log for capacity records: a memfd with the header
// written and its size sealed — the child may write records, but not
// shrink the file under the reader's mapping (SIGBUS) nor grow it.
func newLogFile(magic uint64, capacity int) (*logFile, error) {
	fd, err := unix.MemfdCreate("restartbench-log", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return nil, fmt.Errorf("restartbench: log memfd: %w", err)
	}
	l := &logFile{f: os.NewFile(uintptr(fd), "restartbench-log")}
	length := logLength(capacity)
	var hdr [capacityOffset + 8]byte
	binary.NativeEndian.PutUint64(hdr[magicOffset:], magic)
	binary.NativeEndian.PutUint64(hdr[capacityOffset:], uint64(capacity))
	if err = unix.Ftruncate(fd, int64(length)); err == nil {
		_, err = unix.Pwrite(fd, hdr[:], 0)
	}
	if err == nil {
		_, err = unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, unix.F_SEAL_SHRINK|unix.F_SEAL_GROW|unix.F_SEAL_SEAL)
	}
	if err == nil {
		l.mem, err = unix.Mmap(fd, 0, length, unix.PROT_READ, unix.MAP_SHARED)
	}
	if err != nil {
		l.close()
		return nil, fmt.Errorf("restartbench: log of %d records: %w", capacity, err)
	}
	l.w = words(l.mem)
	return l, nil
}

// handedOver closes the orchestrator's descriptor once the child has
// inherited its own; the mapping stays.
func (l *logFile) handedOver() {
	if l.f != nil {
		l.f.Close()
		l.f = nil
	}
}

// close releases the descriptor and the mapping; l.w is nil after it.
func (l *logFile) close() {
	l.handedOver()
	if l.mem != nil {
		unix.Munmap(l.mem)
	}
	l.mem, l.w = nil, nil
}

// words views a page-aligned mapping as 8-byte words.
func words(mem []byte) []uint64 {
	if len(mem) < 8 {
		return nil
	}
	return unsafe.Slice((*uint64)(unsafe.Pointer(unsafe.SliceData(mem))), len(mem)/8)
}

// childLog is a child's side of its log: a writable mapping, kept for the
// process's life.
type childLog struct {
	w        []uint64
	capacity uint64
	sealed   atomic.Bool // a client's: outcomes are no longer stored (seal)
}

// openChildLog maps the log inherited as descriptor fd, checks its magic
// and that its capacity fits its size, and closes the descriptor.
func openChildLog(fd int, magic uint64) (*childLog, error) {
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, fmt.Errorf("restartbench: log descriptor %d: %w", fd, err)
	}
	if st.Size < logHeaderLength || st.Size > maxLogLength {
		return nil, fmt.Errorf("%w: %d bytes", errBadLog, st.Size)
	}
	mem, err := unix.Mmap(fd, 0, int(st.Size), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("restartbench: log: %w", err)
	}
	l := &childLog{w: words(mem), capacity: atomic.LoadUint64(&words(mem)[capacityWord])}
	if m := atomic.LoadUint64(&l.w[magicWord]); m != magic || l.capacity > uint64(len(l.w)-headerWords)/recordWords {
		unix.Munmap(mem)
		return nil, fmt.Errorf("%w: magic %#x (want %#x), capacity %d in %d bytes", errBadLog, m, magic, l.capacity, st.Size)
	}
	return l, nil
}

// reserve takes the next record and returns the index of its first word,
// or false when the log is full (counted in Full). One atomic add.
func (l *childLog) reserve() (int, bool) {
	// SYNC: the position is published by this add; pairs with the load in
	// checkLog. Each record's own stores say whether it was written.
	pos := atomic.AddUint64(&l.w[positionWord], 1) - 1
	if pos >= l.capacity {
		atomic.AddUint64(&l.w[fullWord], 1)
		return 0, false
	}
	return headerWords + int(pos)*recordWords, true
}

// begin logs call seq of connection conn as begun at start, before the
// call: it returns the record to end, or false when the log cannot hold
// it (the call must not be made: it could not be accounted for). One
// atomic add and two stores.
func (l *childLog) begin(conn int, seq uint64, start int64) (int, bool) {
	if seq > maxLogSeq || conn >= maxLogConns {
		atomic.AddUint64(&l.w[fullWord], 1)
		return 0, false
	}
	r, ok := l.reserve()
	if !ok {
		return 0, false
	}
	atomic.StoreUint64(&l.w[r+startOffset/8], uint64(start))
	// SYNC: release of the record: Start before the state; pairs with the
	// load of the state in decodeCalls.
	atomic.StoreUint64(&l.w[r+stateOffset/8], callState(seq, conn, outcomeInFlight))
	return r, true
}

// end stores the outcome of the call in record r, after the call — unless
// the log is sealed. One load and one store.
func (l *childLog) end(r int, conn int, seq uint64, o outcome) {
	if l.sealed.Load() {
		return
	}
	atomic.StoreUint64(&l.w[r+stateOffset/8], callState(seq, conn, o))
}

// seal stops end from storing outcomes: a client that gives up waiting
// for its calls seals its log before it closes its Conns, so that a call
// that Close ends (ErrClosed) stays in flight — lost — in the log. A call
// that returned before the seal may still store its outcome.
func (l *childLog) seal() { l.sealed.Store(true) }

// executed logs that the server's handler ran request seq of connection
// conn of client incarnation proc: called before the handler writes the
// response. A request with seq 0 leaves no visible record. One atomic add
// and two stores.
func (l *childLog) executed(proc, conn uint32, seq uint64) {
	r, ok := l.reserve()
	if !ok {
		return
	}
	atomic.StoreUint64(&l.w[r+keyOffset/8], uint64(proc)<<32|uint64(conn))
	// SYNC: release: the key before Seq; pairs with the load of Seq in
	// decodeExecs. link publishes the response the handler writes next
	// with a release store after this one, so a response a client took
	// implies this record.
	atomic.StoreUint64(&l.w[r+seqOffset/8], seq)
}
