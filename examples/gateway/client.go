package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/spinwire/spinwire/asm"
	"github.com/spinwire/spinwire/link"
)

// clientConfig is the client's command line.
type clientConfig struct {
	name, dir string
	n, conns  int
	bad       int           // every bad-th order is invalid; 0: none
	timeout   time.Duration // per call
	wait      time.Duration // for the server to appear
	procs     int
	fills     bool // take the gateway's fills (link.DialPush)
}

func parseClient(args []string, stderr io.Writer) (clientConfig, error) {
	var c clientConfig
	fs := flag.NewFlagSet("gateway client", flag.ContinueOnError)
	fs.SetOutput(stderr)
	nameFlags(fs, &c.name, &c.dir, &c.procs)
	fs.IntVar(&c.n, "n", 100_000, "orders to send in all")
	fs.IntVar(&c.conns, "conns", 4, "connections, each driven by its own goroutine")
	fs.IntVar(&c.bad, "bad", 10, "make every bad-th order invalid, to see it rejected (0: none)")
	fs.DurationVar(&c.timeout, "timeout", time.Second, "deadline of each call")
	fs.DurationVar(&c.wait, "wait", 5*time.Second, "how long to wait for the server to appear")
	fs.BoolVar(&c.fills, "fills", false, "take the fills the gateway pushes for accepted orders (link.DialPush) and check each")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	switch {
	case fs.NArg() > 0:
		return c, fmt.Errorf("%w: unexpected arguments %q", errUsage, fs.Args())
	case c.n < 1 || c.conns < 1 || c.bad < 0 || c.timeout <= 0 || c.wait < 0:
		return c, fmt.Errorf("%w: want -n ≥ 1, -conns ≥ 1, -bad ≥ 0, -timeout > 0, -wait ≥ 0", errUsage)
	}
	return c, nil
}

// clientResult is what a client run saw.
type clientResult struct {
	Sent       uint64                  // calls made
	Counts     [numStatus]uint64       // acks as expected, by status
	Unexpected uint64                  // acks that did not match their order or the expected status
	Failed     uint64                  // calls that ended in an error (timeout, server gone)
	Fills      uint64                  // -fills: fills taken that matched an order sent
	BadFills   uint64                  // -fills: fills that matched no order sent on their connection
	Latency    *hdrhistogram.Histogram // call latency, TSC ticks
	Seconds    float64
}

// worker drives one connection; its fields are its own until it returns.
type worker struct {
	clientResult
	firstErr error // the failed call that stopped the worker
	badOrder Order // the first unexpected ack and its order
	badAck   Ack
}

// client dials cfg.conns connections (waiting up to cfg.wait for the
// server), sends cfg.n orders spread over them, one goroutine and one call
// in flight per connection, checks every ack, and prints the latency
// percentiles. Ctrl-C stops it early; calls already made still end.
func client(ctx context.Context, cfg clientConfig, stdout, stderr io.Writer) (*clientResult, error) {
	procs := tuneRuntime(0, cfg.procs)
	asm.TicksPerSecond() // calibrate now (100 ms), not in the first call
	conns := make([]*link.PushConn[Order, Ack, Fill], cfg.conns)
	defer func() {
		for _, c := range conns {
			if c != nil {
				c.Close()
			}
		}
	}()
	deadline := time.Now().Add(cfg.wait)
	for i := range conns {
		c, err := dial(ctx, cfg, deadline)
		if err != nil || c == nil {
			return nil, err // c == nil: interrupted
		}
		conns[i] = c
	}
	fmt.Fprintf(stdout, "client: %d connections to %q; %d orders, %s; call timeout %v; GOMAXPROCS %d\n",
		cfg.conns, cfg.name, cfg.n, invalidShare(cfg.bad), cfg.timeout, procs)

	// ctx.Err() takes a lock: the workers poll a flag instead.
	var stop atomic.Bool
	defer context.AfterFunc(ctx, func() { stop.Store(true) })()
	workers := make([]worker, cfg.conns)
	for i := range workers {
		workers[i].Latency = newLatency()
	}
	var wg sync.WaitGroup
	t0 := time.Now()
	for i := range workers {
		wg.Go(func() { workers[i].run(conns[i], uint64(i), uint64(cfg.conns), cfg, &stop) })
	}
	wg.Wait()

	res := &clientResult{Seconds: time.Since(t0).Seconds(), Latency: newLatency()}
	var firstErr, firstBad error
	for i := range workers {
		w := &workers[i]
		res.Sent += w.Sent
		res.Unexpected += w.Unexpected
		res.Failed += w.Failed
		res.Fills += w.Fills
		res.BadFills += w.BadFills
		for st := range res.Counts {
			res.Counts[st] += w.Counts[st]
		}
		res.Latency.Merge(w.Latency)
		if firstErr == nil && w.firstErr != nil {
			firstErr = w.firstErr
		}
		if firstBad == nil && w.Unexpected > 0 {
			firstBad = fmt.Errorf("order %+v got %+v (status %s)", w.badOrder, w.badAck, Status(w.badAck.Status))
		}
	}
	fmt.Fprintf(stdout, "client: %d orders in %.2f s (%.0f orders/s): %s; %d unexpected acks, %d failed calls\n",
		res.Sent, res.Seconds, float64(res.Sent)/max(res.Seconds, 1e-9), countsString(&res.Counts), res.Unexpected, res.Failed)
	fmt.Fprintf(stdout, "client: call latency: %s\n", latencyString(res.Latency))
	if cfg.fills {
		fmt.Fprintf(stdout, "client: %d fills pushed by the gateway, each for an order sent on its connection; %d that were not\n", res.Fills, res.BadFills)
	}
	switch {
	case res.BadFills > 0:
		return res, fmt.Errorf("%d fills for orders not sent", res.BadFills)
	case res.Unexpected > 0:
		return res, fmt.Errorf("%d unexpected acks; the first: %w", res.Unexpected, firstBad)
	case res.Failed > 0:
		return res, fmt.Errorf("%d calls failed; the first: %w", res.Failed, firstErr)
	}
	return res, nil
}

// dial connects — for fills too with cfg.fills (link.DialPush), else as a
// plain Conn (the PushConn's receive methods are then not used) —
// retrying while no server listens until deadline. It returns nil, and no
// error, if ctx ends first.
func dial(ctx context.Context, cfg clientConfig, deadline time.Time) (*link.PushConn[Order, Ack, Fill], error) {
	for {
		c, err := &link.PushConn[Order, Ack, Fill]{}, error(nil)
		if cfg.fills {
			c, err = link.DialPush[Order, Ack, Fill](cfg.name, link.DialOptions{Dir: cfg.dir})
		} else {
			c.Conn, err = link.Dial[Order, Ack](cfg.name, link.DialOptions{Dir: cfg.dir})
		}
		switch {
		case err == nil:
			return c, nil
		case !errors.Is(err, link.ErrPeerGone): // a layout mismatch, a full server, a refusal: waiting will not help
			return nil, err
		case ctx.Err() != nil:
			return nil, nil
		case time.Now().After(deadline):
			return nil, fmt.Errorf("no server %q within %v: %w", cfg.name, cfg.wait, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// run sends orders first, first+step, … < cfg.n over c, one call at a time;
// with cfg.fills it takes the fills that have come after each call, and
// at the end waits up to cfg.timeout for those still due.
func (w *worker) run(c *link.PushConn[Order, Ack, Fill], first, step uint64, cfg clientConfig, stop *atomic.Bool) {
	var check func(*Fill)
	if cfg.fills {
		check = func(f *Fill) { w.checkFill(f, first, step, cfg.bad) }
		defer w.awaitFills(c, cfg.timeout, check)
	}
	renewEvery := uint64(cfg.timeout.Seconds() * asm.TicksPerSecond() / 10)
	var (
		ack      Ack
		deadline time.Time
		renewed  uint64
	)
	for i := first; i < uint64(cfg.n) && !stop.Load(); i += step {
		o, want := makeOrder(i, cfg.bad)
		start := asm.Ticks()
		// Call takes its deadline as a time.Time, but reading the clock on
		// every call is what this example avoids: the deadline is renewed
		// when a tenth of the timeout has passed on the TSC, so each call
		// gets between 0.9 and 1 times -timeout.
		if start-renewed >= renewEvery {
			deadline, renewed = time.Now().Add(cfg.timeout), start
		}
		err := c.Call(deadline, &o, &ack)
		end := asm.Ticks()
		w.Sent++
		if check != nil {
			c.Drain(0, check)
		}
		if err != nil {
			// Not retried, and this connection sends nothing more: the
			// order may or may not have reached the gateway (ErrPeerGone:
			// the server died with it in flight; ErrTimeout: no answer in
			// time). A real client would ask for the order's status once
			// the Conn has reconnected.
			w.Failed++
			w.firstErr = fmt.Errorf("order %d: %w", o.ClOrdID, err)
			return
		}
		recordLatency(w.Latency, end-start)
		// The ack comes from another process too: check it before
		// believing it.
		st := Status(ack.Status)
		if ack.ClOrdID != o.ClOrdID || st != want || (st == StatusAccepted) != (ack.OrderID != 0) {
			if w.Unexpected == 0 {
				w.badOrder, w.badAck = o, ack
			}
			w.Unexpected++
			continue
		}
		w.Counts[st]++
	}
}

// invalidShare says which orders -bad makes invalid.
func invalidShare(bad int) string {
	suffix := "th"
	switch {
	case bad == 0:
		return "none invalid"
	case bad == 1:
		return "all invalid"
	case bad%100 >= 11 && bad%100 <= 13:
	case bad%10 == 1:
		suffix = "st"
	case bad%10 == 2:
		suffix = "nd"
	case bad%10 == 3:
		suffix = "rd"
	}
	return fmt.Sprintf("every %d%s invalid", bad, suffix)
}

// checkFill counts a fill that matches an order this worker sent — its
// ClOrdID is one of first, first+step, … and price and quantity are the
// order's — and one that does not as bad.
func (w *worker) checkFill(f *Fill, first, step uint64, bad int) {
	i := f.ClOrdID - 1
	o, want := makeOrder(i, bad)
	price := o.Price
	if price == 0 {
		price = 100_0000
	}
	if f.ClOrdID == 0 || i < first || (i-first)%step != 0 || want != StatusAccepted || f.Qty != o.Qty || f.Price != price || f.OrderID == 0 {
		w.BadFills++
		return
	}
	w.Fills++
}

// awaitFills waits up to timeout for the fills of the orders accepted and
// not yet filled (the exchange sends them after the acks).
func (w *worker) awaitFills(c *link.PushConn[Order, Ack, Fill], timeout time.Duration, check func(*Fill)) {
	deadline := time.Now().Add(timeout)
	var f Fill
	for w.Fills+w.BadFills < w.Counts[StatusAccepted] {
		if c.Recv(deadline, &f) != nil {
			return
		}
		check(&f)
	}
}
