package link

import (
	"errors"
	"sync"
	"unsafe"

	"github.com/spinwire/spinwire/layout"
	"golang.org/x/sys/unix"
)

// ---- arenas shared by the Conns of a process ----

// sharedArena is one mapping of an arena, shared by every Conn of this
// process to the same server (the server gives each client process one
// arena; keyed by the memfd's inode), so a thousand Conns map it once.
type sharedArena struct {
	seg  *layout.Segment
	key  inodeKey
	refs int
}

// inodeKey names a shared file (an arena, a liveness page) by device and
// inode, so one process maps it once.
type inodeKey struct{ dev, ino uint64 }

var (
	arenasMu sync.Mutex
	arenas   = map[inodeKey]*sharedArena{}
)

// mapArena maps the arena fd (taking it) — a segment of at most maxLength
// bytes — or finds this process's mapping of it.
func mapArena(fd int, fingerprint uint64, maxLength int64) (*sharedArena, error) {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return nil, err
	}
	key := inodeKey{st.Dev, st.Ino}
	arenasMu.Lock()
	defer arenasMu.Unlock()
	if a := arenas[key]; a != nil {
		unix.Close(fd)
		a.refs++
		return a, nil
	}
	seg, err := layout.OpenFd(fd, layout.Options{Fingerprint: fingerprint, Sparse: true, MaxLength: maxLength})
	if err != nil {
		unix.Close(fd)
		return nil, err
	}
	if uintptr(unsafe.Pointer(unsafe.SliceData(seg.Body())))%slotAlign != 0 {
		seg.Close()
		return nil, errors.New("link: arena body misaligned")
	}
	if err := checkArenaHeader(seg.Body()); err != nil {
		seg.Close()
		return nil, err
	}
	a := &sharedArena{seg: seg, key: key, refs: 1}
	arenas[key] = a
	return a, nil
}

func (a *sharedArena) unref() {
	arenasMu.Lock()
	defer arenasMu.Unlock()
	if a.refs--; a.refs == 0 {
		delete(arenas, a.key)
		a.seg.Close()
	}
}
