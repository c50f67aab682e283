package topic

import (
	"crypto/rand"
	"encoding/binary"
	"os"
	"strconv"
	"sync"

	"github.com/spinwire/spinwire/asm"
	"github.com/spinwire/spinwire/layout"
)

// A process's subscriber segments: one per topic (dir and name) while it
// has subscribers there, 64 cells each; more segments if it has more.
var cells struct {
	sync.Mutex
	segs map[string][]*subSeg // by dir + "/" + topic name
	n    int                  // numbers the segments' names
}

// subSeg is one subscriber segment of this process.
type subSeg struct {
	seg   *layout.Segment
	mem   []byte
	used  [subCells]bool
	n     int
	known bool // a reliable publisher has mapped it (a join waited for its scans)
}

// cell is a Subscriber's cell: its segment and offset.
type cell struct {
	s   *subSeg
	off int
	key string
}

// newCell takes a free cell for a subscriber of topic name in dir, making
// a segment when every one is full, and writes token, epoch and position
// into it, the state (cellActive, or cellJoining) last.
func newCell(dir, name string, epoch, pos uint64, state uint32) (*cell, uint64, error) {
	c, err := reserveCell(dir, name, true)
	if err != nil {
		return nil, 0, err
	}
	return c, c.fill(epoch, pos, state), nil
}

// reserveCell takes a free cell for a subscriber of topic name in dir,
// making a segment when every one is full — linked in dir as NAME~sPID.N
// when named, else reachable only through its descriptor (a publisher of
// another uid gets it over its socket: share.go). The cell is the
// caller's to fill, or to release.
func reserveCell(dir, name string, named bool) (*cell, error) {
	cells.Lock()
	defer cells.Unlock()
	key := dir + "/" + name
	var ss *subSeg
	for _, s := range cells.segs[key] {
		if s.n < subCells {
			ss = s
			break
		}
	}
	if ss == nil {
		cells.n++
		opts := layout.Options{}
		if named {
			opts.Dir, opts.Name = dir, name+"~s"+strconv.Itoa(os.Getpid())+"."+strconv.Itoa(cells.n)
		}
		var err error
		if ss, err = newSubSeg(opts); err != nil {
			return nil, err
		}
		if cells.segs == nil {
			cells.segs = map[string][]*subSeg{}
		}
		cells.segs[key] = append(cells.segs[key], ss)
	}
	i := 0
	for ss.used[i] {
		i++
	}
	ss.used[i] = true
	ss.n++
	return &cell{s: ss, off: subHeader + i*cellLength, key: key}, nil
}

// newSubSeg makes an empty subscriber segment (named by opts, or not).
func newSubSeg(opts layout.Options) (*subSeg, error) {
	opts.Fingerprint = subFPrint
	seg, err := layout.Create(subLength, opts)
	if err != nil {
		return nil, err
	}
	// Publishers only read it, and one of another uid gets a descriptor
	// it could reopen for writing (remote.go).
	if err := seg.SealWrites(); err != nil {
		seg.Close()
		return nil, err
	}
	ss := &subSeg{seg: seg, mem: seg.Body()}
	store32(ss.mem, 8, subVersion)
	store(ss.mem, 0, subMagic)
	return ss, nil
}

// fill writes a new random token, epoch and position into the reserved
// cell, the state last, and returns the token.
func (c *cell) fill(epoch, pos uint64, state uint32) uint64 {
	var b [8]byte
	rand.Read(b[:])
	tok := binary.LittleEndian.Uint64(b[:]) | 1
	store(c.s.mem, c.off+cellToken, tok)
	c.follow(epoch, pos)
	// SYNC: release of the cell; the publisher reads the state first.
	store32(c.s.mem, c.off+cellState, state)
	return tok
}

// follow points the cell at a publisher epoch and a position, the
// position first: a publisher of that epoch never reads the position the
// cell had for the one before (beyond its tail, it would evict the cell).
// The epoch's store is sequentially consistent (XCHG): a full barrier
// before whatever the caller loads next.
func (c *cell) follow(epoch, pos uint64) {
	c.setPos(pos)
	// SYNC: release of the position; the publisher loads the epoch first.
	store(c.s.mem, c.off+cellEpoch, epoch)
}

// setPos publishes the subscriber's position: the next sequence it reads.
func (c *cell) setPos(pos uint64) {
	// SYNC: release of the position; pairs with the publisher's load.
	asm.StoreRelease64(word(c.s.mem, c.off+cellPos), pos)
}

// setLost publishes the subscriber's loss count, for observers.
func (c *cell) setLost(n uint64) {
	// SYNC: release; read by Publisher.Subscribers and stat's sampler.
	asm.StoreRelease64(word(c.s.mem, c.off+cellLost), n)
}

// activate makes a joining cell one the publisher waits for. The store is
// an XCHG (sync/atomic): a full barrier, so the tail the caller loads next
// is not read before the publisher can see the cell.
func (c *cell) activate() {
	// SYNC: release of the position before it, and store-load fence.
	store32(c.s.mem, c.off+cellState, cellActive)
}

// release frees the cell, and the segment with its last cell.
func (c *cell) release() {
	cells.Lock()
	defer cells.Unlock()
	store32(c.s.mem, c.off+cellState, cellClosed)
	ss := c.s
	ss.used[(c.off-subHeader)/cellLength] = false
	ss.n--
	if ss.n > 0 {
		return
	}
	l := cells.segs[c.key]
	for i, s := range l {
		if s == ss {
			cells.segs[c.key] = append(l[:i], l[i+1:]...)
			break
		}
	}
	ss.seg.Close()
}

// isKnown reports whether the publisher has mapped c's segment.
func (c *cell) isKnown() bool {
	cells.Lock()
	defer cells.Unlock()
	return c.s.known
}

// setKnown records that the publisher has mapped c's segment.
func (c *cell) setKnown() {
	cells.Lock()
	c.s.known = true
	cells.Unlock()
}
