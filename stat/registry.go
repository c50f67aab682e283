package stat

import (
	"cmp"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/spinwire/spinwire/internal/rundir"
	"github.com/spinwire/spinwire/layout"
	"github.com/spinwire/spinwire/link"
)

// Options configures NewRegistry.
type Options struct {
	Dir      string        // the registry directory; empty: DefaultDir()
	Interval time.Duration // how often endpoints are sampled; 0: 100 ms
	Slots    int           // endpoints this process can register; 0: DefaultSlots
	// Share, if it lists UIDs or GIDs, lets those uids read this registry
	// too (ScanShared; spinstat does): share.go says how. Without it only
	// this uid (and root) can.
	Share link.Policy
	// ShareDir is where a sharing registry puts its socket; empty:
	// DefaultShareDir.
	ShareDir string
}

// ErrFull is returned by Register when every slot is taken.
var ErrFull = errors.New("stat: every endpoint slot is taken")

// DefaultDir returns the registry directory: "stat" in link.Dir(), mode
// 0700, created if missing. Only this uid can read what is published
// there: one that is not a directory of this uid, or that others may read
// or write, is refused.
func DefaultDir() (string, error) {
	d, err := link.Dir()
	if err != nil {
		return "", err
	}
	d = filepath.Join(d, "stat")
	if err := rundir.Ensure("stat: directory", d, 0o700); err != nil {
		return "", err
	}
	return d, nil
}

// Registry is a process's counters segment and the goroutine that samples
// its endpoints into it. Safe for concurrent use.
type Registry struct {
	mu       sync.Mutex
	seg      *layout.Segment
	mem      []byte // the segment's body
	eps      []*Endpoint
	interval time.Duration
	stop     chan struct{}
	done     chan struct{}
	sharer   *sharer // Options.Share's, or nil
	// sampleNow's counters, under mu: on the stack they would escape
	// through the Sampler, a func value — an allocation per endpoint a
	// pass (TestTopicCounters).
	counts [Counters]uint64
}

// registries numbers a process's registries, for their segments' names.
var registries atomic.Int64

// NewRegistry creates a counters segment, named PID.N in opts.Dir (N counts
// this process's registries from 1), and starts sampling. Close removes
// it. Endpoints' users must stop writing (Set, Histogram.Record) before
// Close: it unmaps the segment.
func NewRegistry(opts Options) (*Registry, error) {
	dir := opts.Dir
	if dir == "" {
		var err error
		if dir, err = DefaultDir(); err != nil {
			return nil, err
		}
	}
	slots := cmpOr(opts.Slots, DefaultSlots)
	name := strconv.Itoa(os.Getpid()) + "." + strconv.FormatInt(registries.Add(1), 10)
	seg, err := layout.Create(regionLength(slots), layout.Options{Name: name, Dir: dir,
		Fingerprint: fingerprint, Sparse: true})
	if err != nil {
		return nil, err
	}
	// Readers only read it, and one of another uid gets a descriptor it
	// could reopen for writing (share.go).
	if err := seg.SealWrites(); err != nil {
		seg.Close()
		return nil, err
	}
	r := &Registry{seg: seg, mem: seg.Body(), eps: make([]*Endpoint, slots),
		interval: time.Duration(cmpOr(int64(opts.Interval), int64(100*time.Millisecond))),
		stop:     make(chan struct{}), done: make(chan struct{})}
	m := r.mem
	store32(m, offSlots, uint32(slots))
	store32(m, offPID, uint32(os.Getpid()))
	store32(m, offUID, uint32(os.Getuid()))
	store(m, offInterval, uint64(r.interval))
	store(m, offStarted, uint64(time.Now().UnixNano()))
	putString(m, offCommand, commandLength, filepath.Base(os.Args[0]))
	store32(m, offVersion, version)
	// SYNC: release of the header; a reader checks the magic first.
	store(m, offMagic, magic)
	if len(opts.Share.UIDs) > 0 || len(opts.Share.GIDs) > 0 {
		if r.sharer, err = share(cmp.Or(opts.ShareDir, DefaultShareDir), name, seg.Fd(), opts.Share); err != nil {
			seg.Close()
			return nil, err
		}
	}
	go r.sampleLoop()
	return r, nil
}

func cmpOr[T int | int64](v, def T) T {
	if v <= 0 {
		return def
	}
	return v
}

// Sampler fills an endpoint's counters; it runs on the registry's
// goroutine, so it must be safe to call from any goroutine, and cheap.
type Sampler func(c *[Counters]uint64)

// Endpoint is one registered endpoint: its slot in the segment.
type Endpoint struct {
	r      *Registry
	off    int // the slot's offset in the body
	sample Sampler
	hist   Histogram
}

// Register publishes an endpoint: its kind, name, message type name and
// layout fingerprint, sampled every interval by sample (nil: counters the
// program sets itself with Set). It returns ErrFull when every slot is
// taken.
func (r *Registry) Register(kind Kind, name, typeName string, print uint64, sample Sampler) (*Endpoint, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i, e := range r.eps {
		if e != nil {
			continue
		}
		off := procHeaderLength + i*entryLength
		m := r.mem
		clear(m[off : off+entryLength])
		store32(m, off+entOffKind, uint32(kind))
		store(m, off+entOffPrint, print)
		store(m, off+entOffCreated, uint64(time.Now().UnixNano()))
		putString(m, off+entOffName, nameLength, name)
		putString(m, off+entOffType, nameLength, typeName)
		e = &Endpoint{r: r, off: off, sample: sample,
			hist: Histogram{unsafe.Slice(word(m, off+entOffHist), Buckets)}}
		if sample != nil {
			e.sampleNow()
		}
		// SYNC: release of the entry; Scan reads the state first.
		store32(m, off+entOffState, slotLive)
		r.eps[i] = e
		return e, nil
	}
	return nil, ErrFull
}

// setSampler sets the endpoint's Sampler after its registration.
func (e *Endpoint) setSampler(s Sampler) {
	e.r.mu.Lock()
	e.sample = s
	e.r.mu.Unlock()
}

// Histogram returns the endpoint's latency histogram, for any goroutine
// to Record into.
func (e *Endpoint) Histogram() *Histogram { return &e.hist }

// Set stores counter i (0 ≤ i < Counters) now: for endpoints without a
// Sampler. An atomic store.
func (e *Endpoint) Set(i int, v uint64) {
	if i >= 0 && i < Counters {
		store(e.r.mem, e.off+entOffCounters+8*i, v)
	}
}

// Close takes the endpoint out of the registry: its slot reads as free,
// and a later Register may take it. Stop calling Set and recording into
// Histogram() first: they write into the slot, whoever holds it then.
func (e *Endpoint) Close() {
	r := e.r
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.eps == nil {
		return
	}
	store32(r.mem, e.off+entOffState, slotFree)
	r.eps[(e.off-procHeaderLength)/entryLength] = nil
}

// sampleNow stores the endpoint's counters, as its Sampler says now.
// Under the registry's lock.
func (e *Endpoint) sampleNow() {
	c := &e.r.counts
	*c = [Counters]uint64{}
	e.sample(c)
	for i, v := range c {
		store(e.r.mem, e.off+entOffCounters+8*i, v)
	}
	store(e.r.mem, e.off+entOffUpdated, uint64(time.Now().UnixNano()))
}

// sampleLoop samples every endpoint each interval until Close.
func (r *Registry) sampleLoop() {
	defer close(r.done)
	t := time.NewTicker(r.interval)
	defer t.Stop()
	for {
		select {
		case <-r.stop:
			return
		case <-t.C:
		}
		r.sampleAll()
	}
}

// sampleAll samples every endpoint once, and beats the heartbeat.
func (r *Registry) sampleAll() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range r.eps {
		if e != nil && e.sample != nil {
			e.sampleNow()
		}
	}
	store(r.mem, offUpdated, uint64(time.Now().UnixNano()))
}

// Close stops sampling and removes the segment and its name.
func (r *Registry) Close() error {
	r.mu.Lock()
	if r.eps == nil {
		r.mu.Unlock()
		return nil
	}
	r.mu.Unlock()
	close(r.stop)
	<-r.done
	if r.sharer != nil {
		r.sharer.close()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.eps = nil
	return r.seg.Close()
}
