package stat

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/spinwire/spinwire/internal/msg"
	"github.com/spinwire/spinwire/layout"
)

// Process is one process's counters segment as Scan read it.
type Process struct {
	Name      string // the segment's name in the registry (the pid)
	PID, UID  uint32
	Command   string
	Started   time.Time
	Updated   time.Time // the sampler's last round
	Interval  time.Duration
	Endpoints []Snapshot
	// Err, if set, says why the segment could not be read (corrupt, of an
	// unknown version, …); the other fields are then what could be.
	Err error
}

// Snapshot is one endpoint as read.
type Snapshot struct {
	Kind        Kind
	Name, Type  string
	Fingerprint uint64
	Created     time.Time
	Updated     time.Time
	Counters    [Counters]uint64
	Hist        [Buckets]uint64
}

// Latency returns the percentiles of the endpoint's histogram.
func (s *Snapshot) Latency() Percentiles { return percentiles(s.Hist[:]) }

// Counter returns the counter called name (CounterNames of its kind).
func (s *Snapshot) Counter(name string) (uint64, bool) {
	i := slices.Index(CounterNames(s.Kind), name)
	if i < 0 {
		return 0, false
	}
	return s.Counters[i], true
}

// ErrCorrupt marks a segment whose contents no writer of this package
// makes.
var ErrCorrupt = errors.New("stat: corrupt counters segment")

// ErrSlow marks the shared registries of a uid that ScanShared did not
// read: that uid's other sockets had kept it waiting too long.
var ErrSlow = errors.New("stat: shared registries not read")

// maxLength bounds the segments Scan maps.
const maxLength = layout.HeaderLength + procHeaderLength + 4096*entryLength

// Scan reads every counters segment in dir (DefaultDir if empty), ordered
// by name. A segment whose process is gone is skipped and its dangling
// name removed; one that cannot be read is returned with Err set. Each
// segment is mapped read-only, copied out and unmapped: Scan never
// writes one and holds no lock a writer takes. Cost: a few system calls
// and a copy of each live endpoint (BenchmarkScan).
func Scan(dir string) ([]Process, error) {
	if dir == "" {
		var err error
		if dir, err = DefaultDir(); err != nil {
			return nil, err
		}
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []Process
	for _, ent := range ents {
		p, ok := readProcess(dir, ent.Name())
		if ok {
			out = append(out, p)
		}
	}
	return out, nil
}

// readProcess reads segment name in dir; ok is false for a dead process.
func readProcess(dir, name string) (Process, bool) {
	p := Process{Name: name}
	seg, err := layout.Open(layout.Options{Name: name, Dir: dir, ReadOnly: true, Fingerprint: fingerprint,
		MaxLength: maxLength, Sparse: true, ReadyWait: -1})
	if errors.Is(err, fs.ErrNotExist) {
		removeDangling(filepath.Join(dir, name))
		return p, false
	}
	if err != nil {
		p.Err = err
		return p, true
	}
	defer seg.Close()
	p.Err = decode(seg.Body(), &p)
	return p, true
}

// removeDangling removes path if it is a link that leads nowhere.
func removeDangling(path string) {
	if fi, err := os.Lstat(path); err == nil && fi.Mode()&fs.ModeSymlink != 0 {
		if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
			os.Remove(path)
		}
	}
}

// decode reads a segment body into p, checking every value a hostile
// writer could set: magic, version, the slot count against the length,
// states and kinds; strings are cut to printable ASCII.
func decode(m []byte, p *Process) error {
	if len(m) < procHeaderLength {
		return corrupt("body of %d bytes", len(m))
	}
	if v := load(m, offMagic); v != magic {
		return corrupt("magic %#x", v)
	}
	if v := load32(m, offVersion); v != version {
		return corrupt("version %d (this build reads %d)", v, version)
	}
	slots := int(load32(m, offSlots))
	if slots < 0 || slots > (len(m)-procHeaderLength)/entryLength {
		return corrupt("%d slots in %d bytes", slots, len(m))
	}
	p.PID, p.UID = load32(m, offPID), load32(m, offUID)
	p.Command = getString(m, offCommand, commandLength)
	p.Started, p.Updated = unixTime(load(m, offStarted)), unixTime(load(m, offUpdated))
	p.Interval = time.Duration(min(load(m, offInterval), uint64(time.Hour)))
	for i := range slots {
		off := procHeaderLength + i*entryLength
		switch load32(m, off+entOffState) {
		case slotFree:
			continue
		case slotLive:
		default:
			return corrupt("slot %d: state %d", i, load32(m, off+entOffState))
		}
		p.Endpoints = append(p.Endpoints, readEntry(m, off))
	}
	return nil
}

// readEntry copies the live entry at off out of m.
func readEntry(m []byte, off int) Snapshot {
	s := Snapshot{Kind: Kind(load32(m, off+entOffKind)), Fingerprint: load(m, off+entOffPrint),
		Created: unixTime(load(m, off+entOffCreated)), Updated: unixTime(load(m, off+entOffUpdated)),
		Name: getString(m, off+entOffName, nameLength), Type: getString(m, off+entOffType, nameLength)}
	for i := range s.Counters {
		s.Counters[i] = load(m, off+entOffCounters+8*i)
	}
	for i := range s.Hist {
		s.Hist[i] = load(m, off+entOffHist+8*i)
	}
	return s
}

func corrupt(format string, args ...any) error {
	return msg.Errorf("%w: "+format, append([]any{ErrCorrupt}, args...)...)
}

func unixTime(ns uint64) time.Time {
	if ns > 1<<62 {
		ns = 0
	}
	return time.Unix(0, int64(ns))
}
