package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/spinwire/spinwire/agent"
	"github.com/spinwire/spinwire/asm"
	"github.com/spinwire/spinwire/spin"
	"github.com/spinwire/spinwire/topic"
)

// subConfig is the subscriber's command line.
type subConfig struct {
	name, dir string
	label     string        // how its lines start
	cpu       string        // auto, none or a CPU number
	batch     int           // most ticks per poll
	every     time.Duration // report interval
	wait      time.Duration // for the publisher to appear, or to come back
	duration  time.Duration // 0: until the publisher's last tick
	slow      time.Duration // work per tick, spun on the TSC (a slow strategy)
	idle      string        // spin, or wait (futex) when there is nothing to read
	procs     int           // GOMAXPROCS; 0: the rule in tuneRuntime
	dedicated bool          // agent.Dedicated agent
}

func parseSubscribe(args []string, stderr io.Writer) (subConfig, error) {
	var c subConfig
	fs := flag.NewFlagSet("feed subscribe", flag.ContinueOnError)
	fs.SetOutput(stderr)
	commonFlags(fs, &c.name, &c.dir, &c.cpu, &c.procs, &c.dedicated)
	fs.StringVar(&c.label, "label", "subscriber", "what each output line starts with")
	fs.IntVar(&c.batch, "batch", 256, "most ticks taken by one poll")
	fs.DurationVar(&c.every, "every", time.Second, "how often to print the latency percentiles")
	fs.DurationVar(&c.wait, "wait", 10*time.Second, "how long to wait for the publisher (at the start, or after it went)")
	fs.DurationVar(&c.duration, "duration", 0, "stop after this long (0: at the publisher's last tick)")
	fs.DurationVar(&c.slow, "slow", 0, "time spent on each tick: a subscriber slower than the feed")
	fs.StringVar(&c.idle, "idle", "spin", "with nothing to read: spin, or wait (sleep in the kernel after 50 µs)")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	switch {
	case fs.NArg() > 0:
		return c, fmt.Errorf("%w: unexpected arguments %q", errUsage, fs.Args())
	case c.batch < 1 || c.every <= 0 || c.wait <= 0 || c.duration < 0 || c.slow < 0:
		return c, fmt.Errorf("%w: want -batch ≥ 1, -every > 0, -wait > 0, -duration ≥ 0, -slow ≥ 0", errUsage)
	case c.idle != "spin" && c.idle != "wait":
		return c, fmt.Errorf("%w: -idle %q: want spin or wait", errUsage, c.idle)
	}
	return c, nil
}

// subResult is what a subscriber run saw.
type subResult struct {
	Received  uint64                  // ticks
	Lost      uint64                  // ticks the publisher overwrote before this subscriber read them (lossy)
	Gaps      uint64                  // ticks missing from the sequence: Lost, unless something is wrong
	Disorder  uint64                  // ticks whose Seq went backwards
	Restarts  uint64                  // new publishers (epochs) followed
	Published uint64                  // the publisher's count, from its last tick
	Complete  bool                    // the last tick came, and every tick is accounted for, in order
	Evicted   bool                    // the publisher let this subscriber go
	Latency   *hdrhistogram.Histogram // publisher's stamp to the subscriber's read, in TSC ticks
}

// window is one report interval's counts. The agent fills one while the
// reporter prints the other; they change hands over channels.
type window struct {
	lat                *hdrhistogram.Histogram // TSC ticks; made once, reset by the reporter
	ticks, batches     uint64
	maxBatch           uint64
	lost, gaps         uint64
	disorder, restarts uint64
	start, end, origin uint64 // asm.Ticks
}

// subscriber is the agent's state: everything its duty function touches.
type subscriber struct {
	sub      *topic.Subscriber[Tick]
	max      int          // most ticks per poll
	every    uint64       // TSC ticks per report window
	slow     uint64       // TSC ticks spent on each tick
	onTickFn func(*Tick)  // s.onTick, bound once (making a method value can allocate)
	next     uint64       // Seq expected next
	epoch    uint64       // the publisher followed
	lostSeen uint64       // sub.Lost() at the last poll
	last     *Tick        // the FlagLast tick, once taken
	lastTick Tick         // its copy
	win      *window      // the window being filled
	free     chan *window // windows the reporter has finished with
	full     chan *window // windows for the reporter to print
	err      error        // eviction, or corruption
	done     bool         // the run is over: stop has been called
	stop     func()       // ends the agent's Run
}

// subscribe joins the topic, reads it on a pinned agent until the
// publisher's last tick (or ctx ends, or cfg.duration passes), printing
// latency percentiles and losses every cfg.every, and leaves.
func subscribe(ctx context.Context, cfg subConfig, stdout, stderr io.Writer) (*subResult, error) {
	procs := tuneRuntime(1, cfg.procs)
	cpu, err := chooseCPU(cfg.cpu, 1, stderr)
	if err != nil {
		return nil, err
	}
	tps := asm.TicksPerSecond() // calibrate now (100 ms), not on the first tick
	sub, err := join(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if sub == nil {
		fmt.Fprintf(stdout, "%s: interrupted while waiting for the publisher\n", cfg.label)
		return nil, nil
	}
	defer sub.Close() // leaves: a reliable publisher stops waiting for us
	res := &subResult{Latency: newLatency()}
	fmt.Fprintf(stdout, "%s: joined topic %q at tick %d (epoch %d); up to %d ticks per poll on %s, idle %s, %v per tick; GOMAXPROCS %d\n",
		cfg.label, cfg.name, sub.Position(), sub.Epoch(), cfg.batch, cpuName(cpu), cfg.idle, cfg.slow, procs)

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	if cfg.duration > 0 {
		runCtx, cancel = context.WithTimeout(runCtx, cfg.duration)
		defer cancel()
	}
	s := newSubscriber(sub, cfg.batch, uint64(cfg.every.Seconds()*tps), uint64(cfg.slow.Seconds()*tps), cancel)
	var sum window
	reported := make(chan struct{})
	go s.report(stdout, cfg.label, res.Latency, &sum, reported)
	gone, err := s.run(runCtx, cpu, cfg, stderr)
	// The agent has returned: its last window goes to the reporter too.
	s.win.end = asm.Ticks()
	s.full <- s.win
	close(s.full)
	<-reported
	if err != nil {
		return nil, err
	}
	res.Received, res.Lost, res.Gaps, res.Disorder, res.Restarts = sum.ticks, sum.lost, sum.gaps, sum.disorder, sum.restarts
	res.Evicted = errors.Is(s.err, topic.ErrEvicted)
	if s.last != nil {
		res.Published = s.last.Seq
		res.Complete = res.Gaps == res.Lost && res.Disorder == 0 && (res.Restarts > 0 || res.Received+res.Lost == res.Published)
	}
	res.print(stdout, cfg.label)
	switch {
	case s.err != nil:
		return res, s.err
	case res.Gaps != res.Lost || res.Disorder != 0:
		return res, fmt.Errorf("%d ticks missing beyond the %d lost to laps, %d out of order", res.Gaps-min(res.Gaps, res.Lost), res.Lost, res.Disorder)
	case gone:
		return res, fmt.Errorf("the publisher went away and no other came within %v", cfg.wait)
	}
	return res, nil
}

// join subscribes to the topic, waiting up to cfg.wait for its publisher;
// nil and no error if ctx ends first.
func join(ctx context.Context, cfg subConfig) (*topic.Subscriber[Tick], error) {
	deadline := time.Now().Add(cfg.wait)
	for {
		sub, err := topic.Subscribe[Tick](cfg.name, topic.SubscribeOptions{Dir: cfg.dir})
		switch {
		case err == nil:
			return sub, nil
		case !errors.Is(err, topic.ErrNoPublisher):
			return nil, err // a different Tick, a corrupt topic, …: waiting will not help
		case ctx.Err() != nil:
			return nil, nil
		case time.Now().After(deadline):
			return nil, fmt.Errorf("no publisher within %v: %w", cfg.wait, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// newSubscriber returns the agent's state for reading sub, up to max
// ticks at a time, spending slow TSC ticks on each, handing a window of
// counts to the reporter every `every` TSC ticks; stop ends the agent's Run.
func newSubscriber(sub *topic.Subscriber[Tick], max int, every, slow uint64, stop func()) *subscriber {
	var windows [2]window
	for i := range windows {
		windows[i].lat = newLatency()
	}
	s := &subscriber{sub: sub, max: max, every: every, slow: slow, epoch: sub.Epoch(), next: sub.Position(),
		win: &windows[0], free: make(chan *window, 2), full: make(chan *window, 2), stop: stop}
	s.onTickFn = s.onTick
	s.free <- &windows[1]
	origin := asm.Ticks()
	windows[0].start, windows[0].origin, windows[1].origin = origin, origin, origin
	return s
}

// run reads the topic on a pinned agent until runCtx ends or the run is
// over, looking every 100 ms for the topic's name: a publisher that closed
// or died leaves none. gone says none came back within cfg.wait (the
// Subscriber follows a new publisher of the name by itself).
func (s *subscriber) run(runCtx context.Context, cpu int, cfg subConfig, stderr io.Writer) (gone bool, err error) {
	ag := &agent.Agent{Name: "feed subscriber", Logf: prefixed(stderr, "")}
	if cfg.dedicated {
		ag.Mode = agent.Dedicated
	}
	var idler spin.Idler = spin.BusySpin{}
	if cfg.idle == "wait" {
		idler = &waitIdler{sub: s.sub}
	}
	errc := make(chan error, 1)
	go func() { errc <- ag.Run(runCtx, cpu, idler, s.duty) }()
	dir := cfg.dir
	if dir == "" {
		dir, _ = topic.DefaultDir()
	}
	check := time.NewTicker(100 * time.Millisecond)
	defer check.Stop()
	var missing time.Time
	for {
		select {
		case err := <-errc:
			return gone, err
		case now := <-check.C:
			switch _, err := os.Stat(filepath.Join(dir, cfg.name)); {
			case err == nil || runCtx.Err() != nil:
				missing = time.Time{}
			case missing.IsZero():
				missing = now
			case now.Sub(missing) > cfg.wait && !gone:
				gone = true
				s.stop()
			}
		}
	}
}

// waitIdler spins for about 50 µs of empty polls, then sleeps in the
// kernel until the publisher wakes it (topic.Subscriber.Wait): a
// subscriber that shares its CPU with others gives it up when idle. It
// runs on the agent's goroutine, the only one that touches the Subscriber.
type waitIdler struct {
	sub  *topic.Subscriber[Tick]
	idle int
}

func (w *waitIdler) Idle(work int) {
	if work > 0 {
		w.idle = 0
		return
	}
	if w.idle++; w.idle < 2000 { // ~25 ns each with the PAUSE
		asm.Pause()
		return
	}
	w.sub.Wait(10 * time.Millisecond)
	w.idle = 0
}

func (w *waitIdler) Reset() { w.idle = 0 }

// print writes the run's summary. One write per line: the publisher and
// the other subscribers may share stdout.
func (res *subResult) print(stdout io.Writer, label string) {
	order := "all in order"
	if res.Gaps != res.Lost || res.Disorder != 0 {
		order = fmt.Sprintf("%d missing, %d out of order", res.Gaps, res.Disorder)
	}
	line := fmt.Sprintf("%s: %d ticks received, %d lost to laps, %s", label, res.Received, res.Lost, order)
	switch {
	case res.Evicted:
		line += "; evicted by the publisher"
	case res.Published != 0 || res.Complete:
		line += fmt.Sprintf("; the publisher sent %d", res.Published)
	}
	if res.Restarts > 0 {
		line += fmt.Sprintf("; %d publisher restart(s) followed", res.Restarts)
	}
	fmt.Fprintln(stdout, line)
	fmt.Fprintf(stdout, "%s: latency over the run: %s\n", label, latencyString(res.Latency))
}

// duty is one iteration of the agent's loop: take what the publisher has
// published (up to s.max, with one store of the position), and once per
// window hand the counts to the reporter. It allocates nothing and makes
// no system call, except the wake-up of the reporter once per window.
func (s *subscriber) duty() int {
	n, err := s.sub.Poll(s.onTickFn, s.max)
	w := s.win
	if n > 0 {
		w.batches++
		w.maxBatch = max(w.maxBatch, uint64(n))
	}
	if lost := s.sub.Lost(); lost != s.lostSeen {
		w.lost += lost - s.lostSeen
		s.lostSeen = lost
	}
	if e := s.sub.Epoch(); e != s.epoch { // a new publisher of the name
		// Its ticks count from where this subscriber starts in it (no tick
		// of it has been handed out yet: Poll follows a new publisher
		// only in a call that found nothing).
		s.epoch, s.next = e, s.sub.Position()
		w.restarts++
	}
	if (err != nil || s.last != nil) && !s.done {
		s.err, s.done = err, true
		s.stop()
	}
	if now := asm.Ticks(); now-w.start >= s.every {
		s.rotate(now)
	}
	return n
}

// onTick handles one tick: the Subscriber's own copy, taken out of shared
// memory and checked there — what we check is what we use. A real
// subscriber would update its book from t here.
func (s *subscriber) onTick(t *Tick) {
	now := asm.Ticks()
	w := s.win
	switch { // the last tick's Seq is the count sent: ticks lost before it are a gap too
	case t.Seq == s.next:
	case t.Seq > s.next:
		w.gaps += t.Seq - s.next
	default:
		w.disorder++
	}
	s.next = t.Seq + 1
	if t.Flags&FlagLast != 0 {
		s.lastTick = *t
		s.last = &s.lastTick
		return
	}
	w.ticks++
	if now > t.Stamp { // the TSC is synchronised across CPUs; guard anyway
		recordLatency(w.lat, now-t.Stamp)
	} else {
		recordLatency(w.lat, 0)
	}
	for s.slow > 0 && asm.Ticks()-now < s.slow { // the slow strategy's work
		asm.Pause()
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
func (s *subscriber) report(w io.Writer, label string, total *hdrhistogram.Histogram, sum *window, done chan<- struct{}) {
	defer close(done)
	for win := range s.full {
		total.Merge(win.lat)
		sum.ticks += win.ticks
		sum.lost += win.lost
		sum.gaps += win.gaps
		sum.disorder += win.disorder
		sum.restarts += win.restarts
		// The last window is usually a sliver of an interval: its ticks
		// count in the totals, but it is printed only if it is not.
		if win.ticks > 0 && win.end-win.start >= s.every/2 {
			secs := asm.TicksToNanos(win.end-win.start) / 1e9
			fmt.Fprintf(w, "%s: %5.1fs  %7.0f ticks/s  lost %d  %d polls (largest %d)  latency %s\n",
				label, asm.TicksToNanos(win.end-win.origin)/1e9, float64(win.ticks)/max(secs, 1e-9), win.lost,
				win.batches, win.maxBatch, latencyString(win.lat))
		}
		lat, origin := win.lat, win.origin
		lat.Reset()
		*win = window{lat: lat, origin: origin}
		s.free <- win // never blocks: room for both windows
	}
}
