package connbench

import (
	"context"
	"fmt"

	"github.com/spinwire/spinwire/asm"
	"github.com/spinwire/spinwire/link"
)

// driver is the load of one Run: the connections, what each has sent and
// received, and the clock. Only the agent's goroutine touches it while the
// load runs; nothing in duty allocates.
type driver struct {
	cfg    ClientConfig
	conns  []*link.Conn[Msg, Resp]
	active int // connections that carry requests: the first active ones
	res    *Result

	inflight []int    // per connection: requests sent, not yet answered
	sent     []uint64 // per connection: requests sent (the next one's Seq)
	next     []uint64 // per connection: the Seq the next response must carry
	cur      int      // the connection being polled (rotate: the one in flight)
	msg      Msg      // the request being sent

	now, start, lastProgress uint64 // asm.Ticks
	warmEnd, end, limit      uint64 // asm.Ticks: end of the warm-up, of the run; -timeout
	measuring                bool
	failure                  error
	cancel                   func()                           // ends the agent's Run
	onResp                   func(uint64, *Resp)              // d.record, bound once (a method value can allocate)
	pushes                   []*link.PushConn[Msg, Resp, Msg] // ClientConfig.Push: conns' push views
	onPush                   func(*Msg)                       // d.recordPush, bound once
}

func newDriver(cfg ClientConfig, conns []*link.Conn[Msg, Resp], res *Result) *driver {
	tps := asm.TicksPerSecond()
	d := &driver{cfg: cfg, conns: conns, active: len(conns), res: res,
		inflight: make([]int, len(conns)), sent: make([]uint64, len(conns)), next: make([]uint64, len(conns)),
		limit: uint64(cfg.Timeout.Seconds() * tps)}
	if cfg.Active > 0 {
		d.active = min(cfg.Active, len(conns))
	}
	d.warmEnd = asm.Ticks() + uint64(cfg.Warmup.Seconds()*tps)
	d.end = d.warmEnd + uint64(cfg.Duration.Seconds()*tps)
	d.lastProgress = asm.Ticks()
	d.onResp, d.onPush = d.record, d.recordPush
	return d
}

// run drives the load on a pinned agent until the run's end or its first
// failure, which it returns.
func (d *driver) run() error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	d.cancel = cancel
	if err := runAgent(ctx, d.cfg, d.duty); err != nil {
		return err
	}
	return d.failure
}

// duty is one iteration of the agent's loop: start measuring after the
// warm-up, stop at the end or on a failure, else poll and send.
func (d *driver) duty() int {
	d.now = asm.Ticks()
	if !d.measuring && d.now >= d.warmEnd {
		d.measuring, d.start = true, d.now
	}
	if d.now >= d.end || d.failure != nil {
		d.res.Seconds = asm.TicksToNanos(d.now-d.start) / 1e9
		d.cancel()
		return 0
	}
	var work int
	if d.cfg.Rotate {
		work = d.rotate()
	} else {
		work = d.pipeline()
	}
	if work > 0 {
		d.lastProgress = d.now
	} else if d.now-d.lastProgress > d.limit && d.failure == nil {
		d.failure = fmt.Errorf("no response for %v", d.cfg.Timeout)
	}
	return work
}

// rotate keeps one request in flight in all: once the current connection's
// response is in, it sends the next request on the next connection.
func (d *driver) rotate() int {
	d.drainPushes(d.cur)
	n, err := d.conns[d.cur].Poll(0, d.onResp)
	d.fail(err)
	if n == 0 && d.sent[d.cur] > 0 {
		return 0
	}
	if n > 0 {
		d.cur = (d.cur + 1) % d.active
	}
	d.msg.Seq, d.msg.Stamp = d.sent[d.cur], asm.Ticks()
	if _, err := d.conns[d.cur].Send(&d.msg); err == nil {
		d.sent[d.cur]++
		d.inflight[d.cur]++
	}
	return n
}

// pipeline polls every active connection and tops each up to
// cfg.Pipeline requests in flight.
func (d *driver) pipeline() int {
	work := 0
	for i, c := range d.conns[:d.active] {
		d.cur = i
		d.drainPushes(i)
		n, err := c.Poll(0, d.onResp)
		d.fail(err)
		work += n
		for d.inflight[i] < d.cfg.Pipeline {
			d.msg.Seq, d.msg.Stamp = d.sent[i], d.now
			if _, err := c.Send(&d.msg); err != nil {
				break
			}
			d.sent[i]++
			d.inflight[i]++
		}
	}
	return work
}

// record takes one response of connection d.cur: it must carry the next
// Seq; once measuring, its latency goes into the histogram.
func (d *driver) record(_ uint64, r *Resp) {
	if r.Seq != d.next[d.cur] && d.failure == nil {
		d.failure = fmt.Errorf("connection %d: response %d carries seq %d", d.cur, d.next[d.cur], r.Seq)
	}
	d.next[d.cur]++
	d.inflight[d.cur]--
	if d.measuring {
		d.res.Requests++
		record(d.res.Hist, asm.TicksToNanos(d.now-r.Stamp))
	}
}

// fail keeps the first failure, naming the connection.
func (d *driver) fail(err error) {
	if err != nil && d.failure == nil {
		d.failure = fmt.Errorf("connection %d: %w", d.cur, err)
	}
}

// drainPushes takes connection i's pushes, if it takes any: the server
// pushes one per request, before it writes the response, so they are
// there when the response is.
func (d *driver) drainPushes(i int) {
	if d.pushes != nil {
		d.now = asm.Ticks()
		_, err := d.pushes[i].Drain(0, d.onPush)
		d.fail(err)
	}
}

// recordPush takes one push: once measuring, its latency from the
// server's Push goes into the push histogram.
func (d *driver) recordPush(m *Msg) {
	if d.measuring {
		d.res.Pushes++
		record(d.res.PushHist, asm.TicksToNanos(d.now-m.Stamp))
	}
}
