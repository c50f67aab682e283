package main

import (
	"context"
	"fmt"
	"time"

	"github.com/spinwire/spinwire/affinity"
	"github.com/spinwire/spinwire/agent"
	"github.com/spinwire/spinwire/asm"
	"github.com/spinwire/spinwire/spin"
)

// drive runs the measuring loop of the config's mode, on a pinned agent
// (of the configured mode) or, for netpoller ends, on an ordinary
// goroutine in a process confined to the CPU; n is the round's message
// count (0: run for budget), budget the round's time (0: none).
func drive(c *config, e end, n int, budget time.Duration, st *roundState) (sample, error) {
	s := sample{cpus: [4]int{-1, -1, -1, -1}}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	l := &loop{s: &s, st: st, cancel: cancel}
	var duty func() int
	switch c.Mode {
	case "throughput":
		duty = (&streamLoop{loop: l, e: e, n: n, batch: c.Batch}).duty
	case "rate":
		re, ok := e.(rateEnd)
		if !ok {
			return s, errNotSupported{"this transport", "rate"}
		}
		s.hist = newHistogram()
		duty = newRateLoop(l, c, re, n, budget).duty
	default:
		s.hist = newHistogram()
		duty = newLatencyLoop(l, c, e, n, budget).duty
	}
	var err error
	if _, ok := e.(netpollEnd); ok {
		err = runConfined(ctx, c.CPUs[0], duty)
	} else {
		err = runAgent(ctx, c, duty)
	}
	if err != nil {
		return s, err
	}
	return s, l.err
}

// runAgent runs duty on a pinned agent of the configured mode until ctx
// ends.
func runAgent(ctx context.Context, c *config, duty func() int) error {
	mode := agent.Preemptible
	if c.Agent == "dedicated" {
		mode = agent.Dedicated
	}
	a := &agent.Agent{Name: "pingpong", Mode: mode, Logf: func(string, ...any) {}}
	errc := make(chan error, 1)
	go func() { errc <- a.Run(ctx, c.CPUs[0], spin.NoOp{}, duty) }()
	return <-errc
}

// runConfined runs duty on an ordinary goroutine until ctx ends, with the
// whole process confined to cpu (netpoller ends: their goroutines and the
// netpoller share it).
func runConfined(ctx context.Context, cpu int, duty func() int) error {
	undo, err := pinProcess(cpu)
	if err != nil {
		return err
	}
	defer undo()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			duty()
		}
	}()
	<-done
	return nil
}

// loop is what every measuring loop shares: the round's sample, the
// progress it publishes, and how it ends.
type loop struct {
	s        *sample
	st       *roundState
	cancel   func() // ends the agent's Run
	err      error
	finished bool
}

// finish ends the round after elapsed ticks of measuring.
func (l *loop) finish(elapsed uint64) {
	l.s.elapsed = elapsed
	l.s.cpus[1] = affinity.CurrentCPU()
	l.finished = true
	l.cancel()
}

// fail ends the round with err; it returns the duty's work count, 0.
func (l *loop) fail(err error) int {
	l.err = err
	l.finished = true
	l.cancel()
	return 0
}

// streamLoop is the throughput mode's duty: one stream of n messages, batch
// at a time, timed whole.
type streamLoop struct {
	*loop
	e        end
	n, batch int
}

func (l *streamLoop) duty() int {
	if l.finished {
		return 0
	}
	l.s.cpus[0] = affinity.CurrentCPU()
	t0 := asm.Ticks()
	if err := l.e.stream(l.n, l.batch); err != nil {
		return l.fail(err)
	}
	l.s.n = l.n
	l.st.done.Store(int64(l.n))
	l.finish(asm.Ticks() - t0)
	return 1
}

// latencyLoop is the closed loop: warm up, then time each round trip from
// just before the send to just after the echo. Nothing in its duty
// allocates (TestLoopsDoNotAllocate).
type latencyLoop struct {
	*loop
	e         end
	n         int    // round trips to measure; cut short at the budget
	budget    uint64 // ticks (0: none)
	warmup    int    // round trips discarded first …
	warmTicks uint64 // … or for this long, whichever ends first (0: no limit)
	seq       uint64
	i         int    // round trips done in the current phase
	t0        uint64 // start of the current phase
	started   bool
	warming   bool
}

func newLatencyLoop(l *loop, c *config, e end, n int, budget time.Duration) *latencyLoop {
	tps := asm.TicksPerSecond()
	return &latencyLoop{loop: l, e: e, n: n, budget: uint64(budget.Seconds() * tps),
		warmup: c.Warmup, warmTicks: uint64(c.WarmupTime.Seconds() * tps), warming: true}
}

func (l *latencyLoop) duty() int {
	if l.finished {
		return 0
	}
	if !l.started {
		l.started = true
		l.s.cpus[0] = affinity.CurrentCPU()
		l.t0 = asm.Ticks()
	}
	if l.warming {
		// The clock is read every 64 round trips only.
		if l.i < l.warmup && (l.warmTicks == 0 || l.i&63 != 0 || asm.Ticks()-l.t0 < l.warmTicks) {
			return l.warmOne()
		}
		l.warming, l.i, l.t0 = false, 0, asm.Ticks()
	}
	return l.measureOne()
}

// warmOne makes one discarded round trip.
func (l *latencyLoop) warmOne() int {
	l.seq++
	if err := l.e.roundTrip(l.seq); err != nil {
		return l.fail(fmt.Errorf("warm-up: %w", err))
	}
	l.i++
	if l.i&63 == 0 {
		l.st.beat.Store(l.seq)
	}
	return 1
}

// measureOne makes one timed round trip and records it; every 64 it
// publishes progress and checks the budget.
func (l *latencyLoop) measureOne() int {
	l.seq++
	a := asm.Ticks()
	if err := l.e.roundTrip(l.seq); err != nil {
		return l.fail(err)
	}
	b := asm.Ticks()
	record(l.s.hist, ns(b-a))
	l.i++
	if l.i&63 == 0 {
		l.st.beat.Store(l.seq)
		l.st.done.Store(int64(l.i))
		if l.budget > 0 && b-l.t0 >= l.budget {
			l.s.short = l.n > 0 && l.i < l.n
			l.n = l.i
		}
	}
	if l.i == l.n {
		l.s.n = l.i
		l.st.done.Store(int64(l.i))
		l.finish(asm.Ticks() - l.t0)
	}
	return 1
}

// rateLoop is the open loop: message k (from 1) is due at
// t0 + (k-1)/rate; every due message is sent (at most window in flight),
// every echo that has come back is timed from its message's due time.
// The first messages, up to the warm-up's count or time, are discarded.
// Nothing in its duty allocates (TestLoopsDoNotAllocate).
type rateLoop struct {
	*loop
	e        rateEnd
	n        int     // messages measured
	warm     uint64  // messages discarded first
	total    uint64  // warm + n
	interval float64 // ticks between two messages
	window   uint64  // most messages in flight
	timeout  uint64  // ticks without an echo that fail the round

	t0, last            uint64 // start; the last echo
	firstSend, lastSend uint64 // the first measured message's send, the last one's
	sent, acked, shown  uint64 // messages sent, echoed, echoes published as progress
	started             bool
}

func newRateLoop(l *loop, c *config, e rateEnd, n int, budget time.Duration) *rateLoop {
	tps := asm.TicksPerSecond()
	warm := c.Warmup
	if c.WarmupTime > 0 {
		warm = min(warm, int(c.Rate*c.WarmupTime.Seconds()))
	}
	if budget > 0 {
		byTime := max(int(c.Rate*budget.Seconds()), 1)
		if n == 0 || byTime < n {
			l.s.short = n > 0
			n = byTime
		}
	}
	return &rateLoop{loop: l, e: e, n: n, warm: uint64(warm), total: uint64(warm + n), interval: tps / c.Rate,
		window: uint64(e.window()), timeout: uint64(c.Timeout.Seconds() * tps)}
}

// due is the time message k is due.
func (r *rateLoop) due(k uint64) uint64 { return r.t0 + uint64(float64(k-1)*r.interval) }

func (r *rateLoop) duty() int {
	if r.finished {
		return 0
	}
	now := asm.Ticks()
	if !r.started {
		r.started = true
		r.s.cpus[0] = affinity.CurrentCPU()
		r.t0, r.last = now, now
	}
	work, err := r.send(now)
	if err != nil {
		return r.fail(err)
	}
	up, ok, err := r.e.tryRecv()
	if err != nil {
		return r.fail(err)
	}
	if !ok {
		if r.sent > r.acked && now-max(r.last, r.due(r.acked+1)) > r.timeout {
			return r.fail(errTimeout)
		}
		return work
	}
	return work + r.receive(up)
}

// send sends every message due by now that the transport takes, and
// returns how many.
func (r *rateLoop) send(now uint64) (int, error) {
	work := 0
	for r.sent < r.total && r.sent-r.acked < r.window && now >= r.due(r.sent+1) {
		ok, err := r.e.trySend(r.sent + 1)
		if err != nil || !ok {
			return work, err
		}
		r.sent++
		work++
		if r.sent == r.warm+1 {
			r.firstSend = now
		}
		// The clock read after the send, not the round's: a round that fell
		// behind sends everything due at once, and its span is still > 0.
		r.lastSend = asm.Ticks()
	}
	return work, nil
}

// receive takes the echo of every message up to up, records the measured
// ones' latencies from their due times, and ends the round at the last.
func (r *rateLoop) receive(up uint64) int {
	t := asm.Ticks()
	if up <= r.acked || up > r.sent {
		return r.fail(fmt.Errorf("echo of seq %d with %d sent and %d echoed", up, r.sent, r.acked))
	}
	for r.acked < up {
		r.acked++
		if r.acked > r.warm {
			record(r.s.hist, ns(t-r.due(r.acked)))
		}
	}
	r.last = t
	r.st.beat.Store(r.acked) // every echo: at low rates 64 of them can take longer than -timeout
	if r.acked-r.shown >= 64 {
		r.shown = r.acked
		r.st.done.Store(int64(r.acked) - int64(r.warm))
	}
	if r.acked == r.total {
		r.s.n = r.n
		r.s.sendSpan = r.lastSend - r.firstSend
		r.st.done.Store(int64(r.n))
		r.finish(t - r.due(r.warm+1))
	}
	return 1
}
