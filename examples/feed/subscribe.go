package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/spinwire/spinwire/agent"
	"github.com/spinwire/spinwire/asm"
	"github.com/spinwire/spinwire/batch"
	"github.com/spinwire/spinwire/layout"
	"github.com/spinwire/spinwire/spin"
)

// subConfig is the subscriber's command line.
type subConfig struct {
	name, dir string
	cpu       string        // auto, none or a CPU number
	batch     int           // most ticks per drain
	every     time.Duration // report interval
	wait      time.Duration // for the feed to appear
	duration  time.Duration // 0: until the publisher is done
	procs     int           // GOMAXPROCS; 0: the rule in tuneRuntime
	dedicated bool          // agent.Dedicated agent
}

func parseSubscribe(args []string, stderr io.Writer) (subConfig, error) {
	var c subConfig
	fs := flag.NewFlagSet("feed subscribe", flag.ContinueOnError)
	fs.SetOutput(stderr)
	commonFlags(fs, &c.name, &c.dir, &c.cpu, &c.procs, &c.dedicated)
	fs.IntVar(&c.batch, "batch", 256, "most ticks taken by one drain")
	fs.DurationVar(&c.every, "every", time.Second, "how often to print the latency percentiles")
	fs.DurationVar(&c.wait, "wait", 10*time.Second, "how long to wait for the feed to appear")
	fs.DurationVar(&c.duration, "duration", 0, "stop after this long (0: when the publisher is done)")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	switch {
	case fs.NArg() > 0:
		return c, fmt.Errorf("%w: unexpected arguments %q", errUsage, fs.Args())
	case c.batch < 1 || c.every <= 0 || c.wait <= 0 || c.duration < 0:
		return c, fmt.Errorf("%w: want -batch ≥ 1, -every > 0, -wait > 0, -duration ≥ 0", errUsage)
	}
	return c, nil
}

// subResult is what a subscriber run saw.
type subResult struct {
	Received  uint64                  // ticks
	Gaps      uint64                  // ticks missing from the sequence
	Disorder  uint64                  // ticks whose Seq went backwards
	Published uint64                  // the publisher's count, once it is done
	Complete  bool                    // the publisher is done and every tick it published was read, in order
	Publisher uint32                  // its pid
	Latency   *hdrhistogram.Histogram // publisher's stamp to the subscriber's read, in TSC ticks
}

// window is one report interval's counts. The agent fills one while the
// reporter prints the other; they change hands over channels.
type window struct {
	lat                *hdrhistogram.Histogram // TSC ticks; made once, reset by the reporter
	ticks, batches     uint64
	maxBatch           uint64
	gaps, disorder     uint64
	start, end, origin uint64 // asm.Ticks
}

// subscriber is the agent's state: everything its duty function touches.
type subscriber struct {
	ring     *spin.Ring[Tick]
	ctl      *control
	max      int          // most ticks per drain
	every    uint64       // TSC ticks per report window
	onTickFn func(*Tick)  // s.onTick, bound once (making a method value can allocate)
	next     uint64       // Seq expected next
	win      *window      // the window being filled
	free     chan *window // windows the reporter has finished with
	full     chan *window // windows for the reporter to print
	finished bool         // the publisher is done and the ring is empty, or the ring is corrupt
	stop     func()       // ends the agent's Run
}

// subscribe attaches to the feed, drains it on a pinned agent until the
// publisher is done (or ctx ends), printing latency percentiles every
// cfg.every, and detaches.
func subscribe(ctx context.Context, cfg subConfig, stdout, stderr io.Writer) (*subResult, error) {
	procs := tuneRuntime(1, cfg.procs)
	cpu, err := chooseCPU(cfg.cpu, 1, stderr)
	if err != nil {
		return nil, err
	}
	tps := asm.TicksPerSecond() // calibrate now (100 ms), not on the first tick

	seg, ctl, ring, err := openFeed(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if seg == nil {
		fmt.Fprintln(stdout, "subscriber: interrupted while waiting for the feed")
		return nil, nil
	}
	defer seg.Close()
	defer ring.Close() // gives the consumer side back, before the unmapping
	// Detach when done. SYNC: pairs with the publisher's loads of
	// SubscriberPID (it stops waiting for us to drain the ring).
	defer atomic.CompareAndSwapUint32(&ctl.SubscriberPID, uint32(os.Getpid()), 0)
	res := &subResult{Publisher: seg.Header().CreatorPID, Latency: newLatency()}
	fmt.Fprintf(stdout, "subscriber: attached to %s (publisher pid %d); draining up to %d ticks at a time on %s; GOMAXPROCS %d\n",
		seg.Path(), res.Publisher, cfg.batch, cpuName(cpu), procs)

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	if cfg.duration > 0 {
		runCtx, cancel = context.WithTimeout(runCtx, cfg.duration)
		defer cancel()
	}
	s := newSubscriber(ring, ctl, cfg.batch, uint64(cfg.every.Seconds()*tps), cancel)
	var sum window
	reported := make(chan struct{})
	go s.report(stdout, res.Latency, &sum, reported)
	gone, err := s.run(runCtx, cpu, cfg.dedicated, res.Publisher, stderr)
	// The agent has returned: its last window goes to the reporter too.
	s.win.end = asm.Ticks()
	s.full <- s.win
	close(s.full)
	<-reported
	if err != nil {
		return nil, err
	}

	res.Received, res.Gaps, res.Disorder = sum.ticks, sum.gaps, sum.disorder
	// SYNC: acquire of State, then Published; pairs with markDone in publish.
	if atomic.LoadUint32(&ctl.State) == StateDone {
		res.Published = atomic.LoadUint64(&ctl.Published)
		res.Complete = s.finished && res.Received == res.Published && res.Gaps == 0 && res.Disorder == 0
	}
	res.print(stdout)
	switch {
	case ring.Err() != nil:
		return res, fmt.Errorf("the publisher corrupted the ring: %w", ring.Err())
	case res.Gaps != 0 || res.Disorder != 0:
		return res, fmt.Errorf("%d ticks missing and %d out of order", res.Gaps, res.Disorder)
	case gone:
		return res, fmt.Errorf("publisher pid %d is gone", res.Publisher)
	case res.Published != 0 && !res.Complete && ctx.Err() == nil: // not interrupted
		return res, fmt.Errorf("read %d of the %d ticks published", res.Received, res.Published)
	}
	return res, nil
}

// newSubscriber returns the agent's state for draining ring, up to max
// ticks at a time, handing a window of counts to the reporter every
// `every` TSC ticks; stop ends the agent's Run.
func newSubscriber(ring *spin.Ring[Tick], ctl *control, max int, every uint64, stop func()) *subscriber {
	var windows [2]window
	for i := range windows {
		windows[i].lat = newLatency()
	}
	s := &subscriber{ring: ring, ctl: ctl, max: max, every: every,
		win: &windows[0], free: make(chan *window, 2), full: make(chan *window, 2), stop: stop}
	s.onTickFn = s.onTick
	s.free <- &windows[1]
	origin := asm.Ticks()
	windows[0].start, windows[0].origin, windows[1].origin = origin, origin, origin
	return s
}

// run drains the feed on a pinned agent until runCtx ends or the
// subscriber is finished, checking every 100 ms that the publisher (pid
// publisher) is alive; gone says it died.
func (s *subscriber) run(runCtx context.Context, cpu int, dedicated bool, publisher uint32, stderr io.Writer) (gone bool, err error) {
	ag := &agent.Agent{Name: "feed subscriber", Logf: logTo(stderr)}
	if dedicated {
		ag.Mode = agent.Dedicated
	}
	errc := make(chan error, 1)
	go func() { errc <- ag.Run(runCtx, cpu, spin.BusySpin{}, s.duty) }()
	check := time.NewTicker(100 * time.Millisecond)
	defer check.Stop()
	for {
		select {
		case err := <-errc:
			return gone, err
		case <-check.C:
			if runCtx.Err() == nil && !alive(publisher) {
				gone = true
				s.stop()
			}
		}
	}
}

// print writes the run's summary: what arrived, in what order, and the
// latency percentiles. One write per line: the publisher may share stdout.
func (res *subResult) print(stdout io.Writer) {
	order := "all in order, none missing"
	if res.Gaps != 0 || res.Disorder != 0 {
		order = fmt.Sprintf("%d missing, %d out of order", res.Gaps, res.Disorder)
	}
	line := fmt.Sprintf("subscriber: %d ticks, %s", res.Received, order)
	if res.Published != 0 || res.Complete {
		line += fmt.Sprintf("; the publisher sent %d", res.Published)
	}
	fmt.Fprintln(stdout, line)
	fmt.Fprintf(stdout, "subscriber: latency over the run: %s\n", latencyString(res.Latency))
}

var errInUse = errors.New("the feed already has a subscriber")

// openFeed waits up to cfg.wait for the publisher's segment, maps it and
// claims the feed. It returns nil, and no error, if ctx ends first.
func openFeed(ctx context.Context, cfg subConfig) (*layout.Segment, *control, *spin.Ring[Tick], error) {
	opts := layout.Options{Name: cfg.name, Dir: cfg.dir, Fingerprint: feedFingerprint()}
	deadline := time.Now().Add(cfg.wait)
	for {
		seg, ctl, ring, err := tryOpenFeed(opts)
		switch {
		case err == nil:
			return seg, ctl, ring, nil
		case errors.Is(err, layout.ErrLayoutMismatch), errors.Is(err, errInUse):
			return nil, nil, nil, err // waiting will not help
		case ctx.Err() != nil:
			return nil, nil, nil, nil
		case time.Now().After(deadline):
			return nil, nil, nil, fmt.Errorf("no feed %q in %s within %v: %w", cfg.name, dirName(cfg.dir), cfg.wait, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

var errNotReady = errors.New("the publisher has not formatted the ring yet")

// tryOpenFeed maps the segment, checks it and claims the feed. Everything in
// it was written by another process and is checked before use: layout.Open
// validates the header and the layout fingerprint, spin.OpenRing the ring's
// header and cursors.
func tryOpenFeed(opts layout.Options) (*layout.Segment, *control, *spin.Ring[Tick], error) {
	seg, err := layout.Open(opts)
	if err != nil {
		return nil, nil, nil, err
	}
	fail := func(err error) (*layout.Segment, *control, *spin.Ring[Tick], error) {
		seg.Close()
		return nil, nil, nil, err
	}
	body := seg.Body()
	ctl, err := layout.At[control](body, 0)
	if err != nil {
		return fail(err)
	}
	// SYNC: acquire of State; pairs with the release store of StateReady in
	// createFeed, made once the ring is formatted.
	if atomic.LoadUint32(&ctl.State) == StateFormatting {
		return fail(errNotReady)
	}
	// The ring has one consumer: OpenRing claims its consumer side, and
	// refuses while another live subscriber holds it.
	ring, err := spin.OpenRing[Tick](body[RingOffset:])
	if errors.Is(err, spin.ErrConsumerTaken) {
		return fail(fmt.Errorf("%w: %w", errInUse, err))
	}
	if err != nil {
		return fail(err)
	}
	// Tell the publisher who we are.
	// SYNC: the CAS publishes our pid; pairs with the publisher's load in
	// waitForSubscriber.
	if me := uint32(os.Getpid()); !atomic.CompareAndSwapUint32(&ctl.SubscriberPID, 0, me) {
		ring.Close()
		return fail(fmt.Errorf("%w: pid %d", errInUse, atomic.LoadUint32(&ctl.SubscriberPID)))
	}
	return seg, ctl, ring, nil
}

// duty is one iteration of the agent's loop: drain what the publisher has
// committed (everything ready, up to s.max, freed with one store), and once
// per window hand the counts to the reporter. It allocates nothing and makes
// no system call, except the wake-up of the reporter once per window.
func (s *subscriber) duty() int {
	// SYNC: acquire of State; pairs with the publisher's release store of
	// StateDone after its last commit. It is loaded before the drain: if the
	// publisher was done before a drain that finds nothing, nothing more
	// will come.
	done := atomic.LoadUint32(&s.ctl.State) == StateDone
	n := batch.Drain(s.ring, s.max, s.onTickFn)
	w := s.win
	if n > 0 {
		w.batches++
		w.maxBatch = max(w.maxBatch, uint64(n))
	} else if !s.finished && (done || s.ring.Err() != nil) {
		s.finished = true
		s.stop()
	}
	if now := asm.Ticks(); now-w.start >= s.every {
		s.rotate(now)
	}
	return n
}

// onTick handles one tick, in place in the ring's slot.
func (s *subscriber) onTick(m *Tick) {
	now := asm.Ticks()
	// One copy out of shared memory: the publisher is another process, and
	// what we check must be what we use. A real subscriber would update
	// its book from t here.
	t := *m
	w := s.win
	switch {
	case t.Seq == s.next:
	case t.Seq > s.next:
		w.gaps += t.Seq - s.next
	default:
		w.disorder++
	}
	s.next = t.Seq + 1
	w.ticks++
	if now > t.Stamp { // the TSC is synchronised across CPUs; guard anyway
		recordLatency(w.lat, now-t.Stamp)
	} else {
		recordLatency(w.lat, 0)
	}
}

// rotate hands the current window to the reporter and starts the other one,
// if the reporter has finished printing it; otherwise it keeps counting into
// the current window and tries again on the next iteration.
func (s *subscriber) rotate(now uint64) {
	select {
	case next := <-s.free:
		s.win.end = now
		s.full <- s.win // never blocks: there are two windows and room for two
		next.start = now
		s.win = next
	default:
	}
}

// report prints each window the agent hands over, adds it to the run's
// totals and gives it back. It runs on an ordinary goroutine: printing
// allocates and makes system calls, which the spinning thread must not.
func (s *subscriber) report(w io.Writer, total *hdrhistogram.Histogram, sum *window, done chan<- struct{}) {
	defer close(done)
	for win := range s.full {
		total.Merge(win.lat)
		sum.ticks += win.ticks
		sum.gaps += win.gaps
		sum.disorder += win.disorder
		// The last window is usually a sliver of an interval: its ticks
		// count in the totals, but it is printed only if it is not.
		if win.ticks > 0 && win.end-win.start >= s.every/2 {
			secs := asm.TicksToNanos(win.end-win.start) / 1e9
			fmt.Fprintf(w, "subscriber: %5.1fs  %7.0f ticks/s  %d batches (largest %d)  latency %s\n",
				asm.TicksToNanos(win.end-win.origin)/1e9, float64(win.ticks)/max(secs, 1e-9), win.batches, win.maxBatch, latencyString(win.lat))
		}
		lat, origin := win.lat, win.origin
		lat.Reset()
		*win = window{lat: lat, origin: origin}
		s.free <- win // never blocks: room for both windows
	}
}
