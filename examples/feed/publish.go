package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/spinwire/spinwire/agent"
	"github.com/spinwire/spinwire/asm"
	"github.com/spinwire/spinwire/spin"
	"github.com/spinwire/spinwire/topic"
)

// pubConfig is the publisher's command line.
type pubConfig struct {
	name, dir string
	policy    topic.Policy
	rate      float64       // ticks per second; 0: as fast as the topic takes them
	duration  time.Duration // how long to publish
	batch     int           // most ticks per commit when catching up
	capacity  int           // topic slots
	history   int           // ticks a late subscriber gets first
	stall     time.Duration // reliable: evict a subscriber that does not move for this long
	subs      int           // subscribers to wait for before publishing
	cpu       string        // auto, none or a CPU number
	wait      time.Duration // for the subscribers to attach
	procs     int           // GOMAXPROCS; 0: the rule in tuneRuntime
	dedicated bool          // agent.Dedicated agent
	// demo only: the subscribers' flags, and the policies to run
	subCPU   string
	every    time.Duration
	slow     time.Duration
	idle     string
	policies []topic.Policy
}

func commonFlags(fs *flag.FlagSet, name, dir, cpu *string, procs *int, dedicated *bool) {
	fs.StringVar(name, "name", "spinwire-feed", "topic name")
	fs.StringVar(dir, "dir", "", "topic directory (default topic.DefaultDir())")
	fs.StringVar(cpu, "cpu", "auto", "CPU to pin the spinner to: auto (affinity.Plan), none, or a number")
	fs.IntVar(procs, "procs", 0, "GOMAXPROCS (default: max(CPUs, spinners+2))")
	fs.BoolVar(dedicated, "dedicated", false, "run the spinner as an agent.Dedicated agent (needs GODEBUG=asyncpreemptoff=1)")
}

func parsePublish(cmd string, args []string, stderr io.Writer) (pubConfig, error) {
	var c pubConfig
	fs := flag.NewFlagSet("feed "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	commonFlags(fs, &c.name, &c.dir, &c.cpu, &c.procs, &c.dedicated)
	policy := "lossy"
	if cmd == "demo" {
		policy = "both"
	}
	fs.StringVar(&policy, "policy", policy, "lossy or reliable (demo: or both, one after the other)")
	fs.Float64Var(&c.rate, "rate", 100_000, "ticks per second (0: as fast as the topic takes them)")
	fs.DurationVar(&c.duration, "duration", 5*time.Second, "how long to publish")
	fs.IntVar(&c.batch, "batch", 64, "most ticks published with one commit when the publisher catches up")
	fs.IntVar(&c.capacity, "ring", 4096, "topic capacity in ticks (a power of two)")
	fs.IntVar(&c.history, "history", 0, "ticks a subscriber that joins late gets first")
	fs.DurationVar(&c.stall, "stall", time.Second, "reliable: evict a subscriber that does not move for this long")
	subs := 1
	if cmd == "demo" {
		subs = 3
	}
	fs.IntVar(&c.subs, "subs", subs, "subscribers to wait for before publishing (demo: subscriber processes, the last one slow)")
	fs.DurationVar(&c.wait, "wait", 10*time.Second, "how long to wait for the subscribers")
	if cmd == "demo" {
		fs.StringVar(&c.subCPU, "subcpu", "", "the subscribers' -cpu (default: auto for one, none for more)")
		fs.DurationVar(&c.every, "every", time.Second, "the subscribers' -every")
		fs.DurationVar(&c.slow, "slow", 20*time.Microsecond, "the slow subscriber's -slow")
		fs.StringVar(&c.idle, "idle", "wait", "the subscribers' -idle")
	}
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	var err error
	if c.policies, err = parsePolicies(policy, cmd == "demo"); err != nil {
		return c, err
	}
	c.policy = c.policies[0]
	switch {
	case fs.NArg() > 0:
		return c, fmt.Errorf("%w: unexpected arguments %q", errUsage, fs.Args())
	case c.rate < 0 || c.duration <= 0 || c.batch < 1 || c.wait <= 0 || c.subs < 0 || c.history < 0 || c.stall <= 0:
		return c, fmt.Errorf("%w: want -rate ≥ 0, -duration > 0, -batch ≥ 1, -wait > 0, -subs ≥ 0, -history ≥ 0, -stall > 0", errUsage)
	case cmd == "demo" && (c.subs < 1 || c.slow < 0 || (c.idle != "spin" && c.idle != "wait")):
		return c, fmt.Errorf("%w: want -subs ≥ 1, -slow ≥ 0, -idle spin or wait", errUsage)
	}
	return c, nil
}

// parsePolicies reads -policy: lossy, reliable, or (both allowed) both.
func parsePolicies(s string, both bool) ([]topic.Policy, error) {
	switch {
	case s == "lossy":
		return []topic.Policy{topic.Lossy}, nil
	case s == "reliable":
		return []topic.Policy{topic.Reliable}, nil
	case s == "both" && both:
		return []topic.Policy{topic.Lossy, topic.Reliable}, nil
	}
	return nil, fmt.Errorf("%w: -policy %q: want lossy or reliable (demo: or both)", errUsage, s)
}

// pubResult is what a publisher run did.
type pubResult struct {
	Published  uint64  // ticks, not counting the last one that ends the run
	Seconds    float64 // from the first tick to the last
	FullEvents uint64  // times a reliable topic was full (the slowest subscriber fell behind)
	Evicted    uint64  // subscribers evicted for stalling
	Left       int     // subscribers still attached a second after the last tick
}

// publish creates the topic, waits for cfg.subs subscribers, publishes
// ticks for cfg.duration on a pinned agent, ends the run with a FlagLast
// tick, waits up to a second for the subscribers to leave, and closes the
// topic, which removes its name.
func publish(ctx context.Context, cfg pubConfig, stdout, stderr io.Writer) (*pubResult, error) {
	procs := tuneRuntime(1, cfg.procs)
	cpu, err := chooseCPU(cfg.cpu, 0, stderr)
	if err != nil {
		return nil, err
	}
	// The first call calibrates the TSC against the monotonic clock for
	// 100 ms: do it now, not on the first tick.
	tps := asm.TicksPerSecond()
	pub, err := topic.Create[Tick](cfg.name, topic.Options{Dir: cfg.dir, Capacity: cfg.capacity,
		Policy: cfg.policy, History: cfg.history, StallTimeout: cfg.stall, Logf: prefixed(stderr, "publisher: ")})
	if err != nil {
		return nil, err
	}
	defer pub.Close()
	fmt.Fprintf(stdout, "publisher: topic %q (%s): %d × %d-byte Tick, history %d; GOMAXPROCS %d; clock %s\n",
		cfg.name, cfg.policy, cfg.capacity, TickLength, cfg.history, procs, asm.ClockSource())
	if !waitForSubscribers(ctx, pub, cfg, stdout) {
		return &pubResult{}, nil
	}
	fmt.Fprintf(stdout, "publisher: %d subscriber(s) attached; publishing %s for %v on %s\n",
		pub.Stats().Subscribers, rateName(cfg.rate), cfg.duration, cpuName(cpu))

	p := &publisher{pub: pub, batch: cfg.batch, rng: 0x9e3779b97f4a7c15}
	if cfg.rate > 0 {
		p.ticksPerTick = tps / cfg.rate
	}
	for i := range p.mid {
		p.mid[i] = symbols[i].mid
	}
	runCtx, cancel := context.WithTimeout(ctx, cfg.duration)
	defer cancel()
	if err := p.run(runCtx, cpu, cfg.dedicated, stdout, stderr); err != nil {
		return nil, err
	}
	// The agent has returned: the publisher is this goroutine's now.
	// Under reliable, Publish waits for room — at most StallTimeout, after
	// which the subscriber holding it up is evicted.
	end := Tick{Seq: p.seq, Stamp: asm.Ticks(), Flags: FlagLast}
	if err := pub.Publish(&end); err != nil {
		return nil, err
	}
	res := &pubResult{Published: p.seq, FullEvents: p.fullEvents, Left: waitLeft(pub, time.Second)}
	res.Evicted = pub.Stats().Evicted
	if p.seq > 0 {
		res.Seconds = asm.TicksToNanos(p.last-p.start) / 1e9
	}
	res.print(stdout, cfg.policy)
	return res, nil
}

func (res *pubResult) print(w io.Writer, policy topic.Policy) {
	full := "no subscriber held it back"
	if res.FullEvents > 0 {
		full = fmt.Sprintf("the topic filled %d times: the slowest subscriber fell behind and the publisher waited", res.FullEvents)
	}
	if policy == topic.Lossy {
		full = "lossy: it never waits"
	}
	fmt.Fprintf(w, "publisher: published %d ticks in %.2f s (%.0f/s); %s; %d evicted, %d still attached\n",
		res.Published, res.Seconds, float64(res.Published)/max(res.Seconds, 1e-9), full, res.Evicted, res.Left)
}

// waitForSubscribers waits up to cfg.wait for cfg.subs subscribers; false
// if ctx ended first (and says so).
func waitForSubscribers(ctx context.Context, pub *topic.Publisher[Tick], cfg pubConfig, stdout io.Writer) bool {
	if cfg.subs == 0 {
		return true
	}
	fmt.Fprintf(stdout, "publisher: waiting up to %v for %d subscriber(s) (feed subscribe -name %s)\n", cfg.wait, cfg.subs, cfg.name)
	deadline := time.Now().Add(cfg.wait)
	for pub.Stats().Subscribers < cfg.subs && time.Now().Before(deadline) {
		if ctx.Err() != nil {
			fmt.Fprintln(stdout, "publisher: interrupted before the subscribers attached")
			return false
		}
		time.Sleep(time.Millisecond)
	}
	return true
}

// waitLeft waits up to d for every subscriber to leave (each does at the
// last tick) and returns how many have not.
func waitLeft(pub *topic.Publisher[Tick], d time.Duration) int {
	deadline := time.Now().Add(d)
	for pub.Stats().Subscribers > 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	return pub.Stats().Subscribers
}

// run publishes on a pinned agent until runCtx ends, saying every 100 ms
// when subscribers come, go or are evicted.
func (p *publisher) run(runCtx context.Context, cpu int, dedicated bool, stdout, stderr io.Writer) error {
	ag := &agent.Agent{Name: "feed publisher", Logf: prefixed(stderr, "")}
	if dedicated {
		ag.Mode = agent.Dedicated
	}
	p.start = asm.Ticks()
	errc := make(chan error, 1)
	go func() { errc <- ag.Run(runCtx, cpu, spin.BusySpin{}, p.duty) }()
	check := time.NewTicker(100 * time.Millisecond)
	defer check.Stop()
	seen := p.pub.Stats()
	for {
		select {
		case err := <-errc:
			return err
		case <-check.C:
			// Stats reads the topic's own counters: safe beside the agent.
			if st := p.pub.Stats(); st.Subscribers != seen.Subscribers || st.Evicted != seen.Evicted {
				fmt.Fprintf(stdout, "publisher: %d subscriber(s) now, %d evicted so far\n", st.Subscribers, st.Evicted)
				seen = st
			}
		}
	}
}

func rateName(rate float64) string {
	if rate == 0 {
		return "as fast as the topic takes ticks"
	}
	return fmt.Sprintf("%.0f ticks/s", rate)
}

// prefixed returns a Logf that writes each line to w after prefix.
func prefixed(w io.Writer, prefix string) func(string, ...any) {
	return func(format string, args ...any) { fmt.Fprintf(w, prefix+format+"\n", args...) }
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
	pub          *topic.Publisher[Tick]
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
// nothing and makes no system call while no subscriber sleeps in Wait.
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
	if k == 0 { // reliable and full: wait for the slowest subscriber
		if !p.wasFull {
			p.wasFull = true
			p.fullEvents++
		}
		return 0
	}
	p.wasFull = false
	for i := range k {
		p.fill(p.pub.Claimed(i), now)
	}
	p.pub.Commit() // one release store per slot, one for the tail
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
