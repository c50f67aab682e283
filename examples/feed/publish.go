package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spinwire/spinwire/agent"
	"github.com/spinwire/spinwire/asm"
	"github.com/spinwire/spinwire/batch"
	"github.com/spinwire/spinwire/layout"
	"github.com/spinwire/spinwire/spin"
)

// pubConfig is the publisher's command line.
type pubConfig struct {
	name, dir string
	rate      float64       // ticks per second; 0: as fast as the subscriber takes them
	duration  time.Duration // how long to publish
	batch     int           // most ticks per commit when catching up
	capacity  int           // ring slots
	cpu       string        // auto, none or a CPU number
	wait      time.Duration // for a subscriber to attach
	procs     int           // GOMAXPROCS; 0: the rule in tuneRuntime
	dedicated bool          // agent.Dedicated agent
	// demo only: the subscriber's flags
	subCPU string
	every  time.Duration
}

func commonFlags(fs *flag.FlagSet, name, dir, cpu *string, procs *int, dedicated *bool) {
	fs.StringVar(name, "name", "spinwire-feed", "segment name: the file `name` in -dir")
	fs.StringVar(dir, "dir", "", "segment directory (default /dev/shm)")
	fs.StringVar(cpu, "cpu", "auto", "CPU to pin the spinner to: auto (affinity.Plan), none, or a number")
	fs.IntVar(procs, "procs", 0, "GOMAXPROCS (default: max(CPUs, spinners+2))")
	fs.BoolVar(dedicated, "dedicated", false, "run the spinner as an agent.Dedicated agent (needs GODEBUG=asyncpreemptoff=1)")
}

func parsePublish(cmd string, args []string, stderr io.Writer) (pubConfig, error) {
	var c pubConfig
	fs := flag.NewFlagSet("feed "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	commonFlags(fs, &c.name, &c.dir, &c.cpu, &c.procs, &c.dedicated)
	fs.Float64Var(&c.rate, "rate", 100_000, "ticks per second (0: as fast as the subscriber takes them)")
	fs.DurationVar(&c.duration, "duration", 5*time.Second, "how long to publish")
	fs.IntVar(&c.batch, "batch", 64, "most ticks published with one commit when the publisher catches up")
	fs.IntVar(&c.capacity, "ring", 4096, "ring capacity in ticks (a power of two)")
	fs.DurationVar(&c.wait, "wait", 10*time.Second, "how long to wait for a subscriber")
	if cmd == "demo" {
		fs.StringVar(&c.subCPU, "subcpu", "auto", "the subscriber's -cpu")
		fs.DurationVar(&c.every, "every", time.Second, "the subscriber's -every")
	}
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	switch {
	case fs.NArg() > 0:
		return c, fmt.Errorf("%w: unexpected arguments %q", errUsage, fs.Args())
	case c.rate < 0 || c.duration <= 0 || c.batch < 1 || c.wait <= 0:
		return c, fmt.Errorf("%w: want -rate ≥ 0, -duration > 0, -batch ≥ 1, -wait > 0", errUsage)
	}
	return c, nil
}

// pubResult is what a publisher run did.
type pubResult struct {
	Published  uint64  // ticks
	Seconds    float64 // from the first tick to the last
	FullEvents uint64  // times the ring filled up (the subscriber fell behind)
	Subscriber uint32  // its pid
}

// publish creates the feed, waits for a subscriber, publishes ticks for
// cfg.duration on a pinned agent, marks the feed done, waits for the
// subscriber to drain it and removes the segment.
func publish(ctx context.Context, cfg pubConfig, stdout, stderr io.Writer) (*pubResult, error) {
	procs := tuneRuntime(1, cfg.procs)
	cpu, err := chooseCPU(cfg.cpu, 0, stderr)
	if err != nil {
		return nil, err
	}
	// The first call calibrates the TSC against the monotonic clock for
	// 100 ms: do it now, not on the first tick.
	tps := asm.TicksPerSecond()

	seg, ctl, ring, err := createFeed(cfg, stderr)
	if err != nil {
		return nil, err
	}
	defer seg.Close() // unmaps and, as the creator, removes the file
	// However publish ends, tell a subscriber that nothing more will come.
	var p publisher
	markDone := sync.OnceFunc(func() {
		atomic.StoreUint64(&ctl.Published, p.seq)
		// SYNC: release of Published and of every tick committed before;
		// pairs with the subscriber's acquire load of State in its duty.
		atomic.StoreUint32(&ctl.State, StateDone)
	})
	defer markDone()
	_, stride, _ := spin.RingLength[Tick](cfg.capacity, ringProtocol)
	fmt.Fprintf(stdout, "publisher: feed %s: ring of %d × %d-byte slots, %d-byte Tick; GOMAXPROCS %d; clock %s\n",
		seg.Path(), ring.Capacity(), stride, TickLength, procs, asm.ClockSource())
	fmt.Fprintf(stdout, "publisher: waiting up to %v for a subscriber (feed subscribe -name %s)\n", cfg.wait, cfg.name)

	sub, err := waitForSubscriber(ctx, ctl, cfg.wait)
	if err != nil {
		return nil, err
	}
	if sub == 0 {
		fmt.Fprintln(stdout, "publisher: interrupted before a subscriber attached")
		return &pubResult{}, nil
	}
	fmt.Fprintf(stdout, "publisher: subscriber pid %d attached; publishing %s for %v on %s\n", sub, rateName(cfg.rate), cfg.duration, cpuName(cpu))

	p = publisher{pub: batch.NewPublisher(ring), batch: cfg.batch, rng: 0x9e3779b97f4a7c15}
	if cfg.rate > 0 {
		p.ticksPerTick = tps / cfg.rate
	}
	for i := range p.mid {
		p.mid[i] = symbols[i].mid
	}
	runCtx, cancel := context.WithTimeout(ctx, cfg.duration)
	defer cancel()
	atomic.StoreUint32(&ctl.State, StatePublishing) // for a human with a hex dump: no one waits for it
	if err := p.run(runCtx, cancel, cpu, cfg.dedicated, ctl, sub, stderr); err != nil {
		return nil, err
	}
	markDone()
	res := &pubResult{Published: p.seq, FullEvents: p.fullEvents, Subscriber: sub}
	if p.seq > 0 {
		res.Seconds = asm.TicksToNanos(p.last-p.start) / 1e9
	}
	drained := waitDrained(ctl, ring, sub)
	full := "the subscriber kept up"
	if res.FullEvents > 0 {
		full = fmt.Sprintf("the ring filled %d times: the subscriber fell behind and the publisher waited (no tick is dropped)", res.FullEvents)
	}
	fmt.Fprintf(stdout, "publisher: published %d ticks in %.2f s (%.0f/s); %s%s\n",
		res.Published, res.Seconds, float64(res.Published)/max(res.Seconds, 1e-9), full, drained)
	return res, nil
}

// run publishes on a pinned agent until runCtx ends, checking every 100 ms
// that subscriber sub is still attached; if it has gone, run stops the
// agent (cancel) and says so.
func (p *publisher) run(runCtx context.Context, cancel func(), cpu int, dedicated bool, ctl *control, sub uint32, stderr io.Writer) error {
	ag := &agent.Agent{Name: "feed publisher", Logf: logTo(stderr)}
	if dedicated {
		ag.Mode = agent.Dedicated
	}
	p.start = asm.Ticks()
	errc := make(chan error, 1)
	go func() { errc <- ag.Run(runCtx, cpu, spin.BusySpin{}, p.duty) }()
	check := time.NewTicker(100 * time.Millisecond)
	defer check.Stop()
	for {
		select {
		case err := <-errc:
			return err
		case <-check.C:
			// (Once runCtx has ended — time is up, or Ctrl-C, which also
			// reaches the subscriber — its leaving is no longer news.)
			// SYNC: acquire of SubscriberPID; pairs with the subscriber's
			// detaching CAS in subscribe.
			if pid := atomic.LoadUint32(&ctl.SubscriberPID); runCtx.Err() == nil && (pid != sub || !alive(pid)) {
				cancel()
				<-errc
				return fmt.Errorf("subscriber pid %d went away after %d ticks", sub, p.seq)
			}
		}
	}
}

func rateName(rate float64) string {
	if rate == 0 {
		return "as fast as the ring takes ticks"
	}
	return fmt.Sprintf("%.0f ticks/s", rate)
}

func logTo(w io.Writer) func(string, ...any) {
	return func(format string, args ...any) { fmt.Fprintf(w, format+"\n", args...) }
}

// createFeed creates the named segment, formats the ring and marks the feed
// ready. A segment left by a publisher that died (kill -9 skips the clean-up)
// is removed first; one whose creator is alive is someone else's feed.
func createFeed(cfg pubConfig, stderr io.Writer) (*layout.Segment, *control, *spin.Ring[Tick], error) {
	n, err := bodyLength(cfg.capacity)
	if err != nil {
		return nil, nil, nil, err
	}
	opts := layout.Options{Name: cfg.name, Dir: cfg.dir, Fingerprint: feedFingerprint()}
	seg, err := layout.Create(n, opts)
	if errors.Is(err, fs.ErrExist) {
		if err := removeStale(opts, stderr); err != nil {
			return nil, nil, nil, err
		}
		seg, err = layout.Create(n, opts)
	}
	if err != nil {
		return nil, nil, nil, err
	}
	body := seg.Body()
	ctl, err := layout.At[control](body, 0)
	if err != nil {
		seg.Close()
		return nil, nil, nil, err
	}
	ring, err := spin.NewRing[Tick](body[RingOffset:n], spin.RingOptions{Capacity: cfg.capacity, Protocol: ringProtocol})
	if err != nil {
		seg.Close()
		return nil, nil, nil, err
	}
	// SYNC: release of the formatted ring; pairs with the subscriber's
	// acquire load of State in openFeed.
	atomic.StoreUint32(&ctl.State, StateReady)
	return seg, ctl, ring, nil
}

// removeStale removes the segment opts names if the process that created it
// is gone. It refuses a live feed, and a file that is not a segment at all.
func removeStale(opts layout.Options, stderr io.Writer) error {
	opts.Fingerprint = 0 // whatever its layout: only the header matters here
	seg, err := layout.Open(opts)
	if err != nil {
		return fmt.Errorf("a file named %q exists in %s and is not a feed segment (%v); remove it if it is stale", opts.Name, dirName(opts.Dir), err)
	}
	pid, path := seg.Header().CreatorPID, seg.Path()
	seg.Close() // not the creator: this does not remove the file
	if alive(pid) {
		return fmt.Errorf("feed %s is in use by pid %d", path, pid)
	}
	fmt.Fprintf(stderr, "feed: removing %s, left by pid %d, which is gone\n", path, pid)
	return os.Remove(path)
}

func dirName(dir string) string {
	if dir == "" {
		return layout.DefaultDir
	}
	return dir
}

// waitForSubscriber polls the subscriber's block until a subscriber claims
// the feed, and returns its pid (0 if ctx ended first).
func waitForSubscriber(ctx context.Context, ctl *control, wait time.Duration) (uint32, error) {
	deadline := time.Now().Add(wait)
	for {
		// SYNC: acquire of the subscriber's claim; pairs with its CAS in openFeed.
		if pid := atomic.LoadUint32(&ctl.SubscriberPID); pid != 0 {
			return pid, nil
		}
		if ctx.Err() != nil {
			return 0, nil
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("no subscriber attached within %v", wait)
		}
		time.Sleep(time.Millisecond)
	}
}

// waitDrained waits, up to a second, for the subscriber to take the last
// ticks before the segment is removed, and says how that ended.
func waitDrained(ctl *control, ring *spin.Ring[Tick], sub uint32) string {
	deadline := time.Now().Add(time.Second)
	for ring.Len() > 0 {
		// SYNC: acquire of SubscriberPID; pairs with the subscriber's
		// detaching CAS in subscribe.
		if atomic.LoadUint32(&ctl.SubscriberPID) != sub || time.Now().After(deadline) {
			return fmt.Sprintf("; %d ticks were left unread", ring.Len())
		}
		time.Sleep(time.Millisecond)
	}
	return ""
}

// symbols are the instruments of the synthetic feed, with their starting
// mid prices (units of 0.0001).
var symbols = [...]struct {
	name [8]byte
	mid  int64
}{
	{[8]byte{'A', 'C', 'M', 'E'}, 101_2500},
	{[8]byte{'G', 'L', 'O', 'B', 'X'}, 42_1700},
	{[8]byte{'I', 'N', 'I', 'T', 'E', 'C', 'H'}, 7_3300},
	{[8]byte{'U', 'M', 'B', 'R', 'L', 'A'}, 250_0000},
}

// publisher is the agent's state: everything its duty function touches,
// owned by the agent's goroutine while it runs.
type publisher struct {
	pub          *batch.Publisher[Tick]
	batch        int     // most ticks per commit
	ticksPerTick float64 // TSC ticks between two feed ticks; 0: unpaced
	start        uint64  // asm.Ticks() when publishing began
	last         uint64  // asm.Ticks() of the last commit
	seq          uint64  // next Tick.Seq; also the count published
	rng          uint64  // xorshift state for the random walk
	mid          [len(symbols)]int64
	wasFull      bool
	fullEvents   uint64
}

// duty is one iteration of the agent's loop: publish the ticks that are due
// (all of them, up to p.batch, in one claim and one commit) and return how
// many, so the idler pauses only when there was nothing to do. It allocates
// nothing and makes no system call.
func (p *publisher) duty() int {
	now := asm.Ticks()
	want := p.batch
	if p.ticksPerTick > 0 {
		due := uint64(float64(now-p.start)/p.ticksPerTick) + 1 // ticks scheduled by now
		if due <= p.seq {
			return 0
		}
		want = int(min(due-p.seq, uint64(p.batch)))
	}
	k := p.pub.Claim(want)
	if k == 0 { // the ring is full: wait for the subscriber (back-pressure)
		if !p.wasFull {
			p.wasFull = true
			p.fullEvents++
		}
		return 0
	}
	p.wasFull = false
	for i := range k {
		p.fill(p.pub.Slot(i), now)
	}
	p.pub.Commit() // one release store makes the batch visible
	p.last = now
	return k
}

// fill writes the next tick into slot t, in place in shared memory. The
// slot still holds a tick from the previous lap: assigning the whole struct
// sets every field, padding included.
func (p *publisher) fill(t *Tick, stamp uint64) {
	i := p.seq % uint64(len(symbols))
	p.rng ^= p.rng << 13
	p.rng ^= p.rng >> 7
	p.rng ^= p.rng << 17
	p.mid[i] += (int64(p.rng%5) - 2) * 100 // a random walk in cents
	p.mid[i] = max(p.mid[i], 1_0000)
	*t = Tick{
		Seq:    p.seq,
		Stamp:  stamp, // the same reading that paced this batch: latency includes filling it
		Symbol: symbols[i].name,
		Bid:    p.mid[i] - 100,
		Ask:    p.mid[i] + 100,
		BidQty: uint32(100 + p.rng%900),
		AskQty: uint32(100 + p.rng>>32%900),
		Venue:  1,
	}
	p.seq++
}
