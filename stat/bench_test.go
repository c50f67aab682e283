package stat

import (
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/spinwire/spinwire/affinity"
	"github.com/spinwire/spinwire/link"
	"github.com/spinwire/spinwire/spin"
)

// BenchmarkScan reads 1000 endpoints: 8 registries of 125 (the target:
// spinstat refreshes 1000 endpoints in under 50 ms).
func BenchmarkScan(b *testing.B) {
	dir := b.TempDir()
	for range 8 {
		reg, err := NewRegistry(Options{Dir: dir, Interval: time.Hour, Slots: 125})
		if err != nil {
			b.Fatal(err)
		}
		defer reg.Close()
		for range 125 {
			if _, err := reg.Register(KindCustom, "e", "t", 1, nil); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ResetTimer()
	for b.Loop() {
		ps, err := Scan(dir)
		if err != nil || len(ps) != 8 {
			b.Fatal(err, len(ps))
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/1000, "ms/scan")
}

// BenchmarkHistogramRecord is one sample's cost.
func BenchmarkHistogramRecord(b *testing.B) {
	var counts [Buckets]uint64
	h := &Histogram{b: counts[:]}
	for i := 0; b.Loop(); i++ {
		h.Record(int64(i & 0xffff))
	}
}

// BenchmarkWatchedStream streams messages between two pinned goroutines
// through a Ring (64-byte slots), published one at a time (batch=1,
// TryPublish) or 64 at a time (batch=64, ClaimN and Commit), in blocks of
// 2^18 messages that alternate between watched — registered in a registry
// that samples it every millisecond, 100 times more often than the
// default — and not watched, so that a host that changes speed meanwhile
// slows both alike. Reports each side's median block rate and their ratio
// (watched/unwatched; the target: ≥ 0.98).
func BenchmarkWatchedStream(b *testing.B) {
	for _, batch := range []int{1, 64} {
		b.Run("batch="+strconv.Itoa(batch), func(b *testing.B) {
			r := newRing(b, 1024)
			reg, err := NewRegistry(Options{Dir: b.TempDir(), Interval: time.Millisecond})
			if err != nil {
				b.Fatal(err)
			}
			defer reg.Close()
			var watched, plain []float64
			var e *Endpoint
			stream(b, r, batch, func(block int, rate float64) {
				if e != nil {
					watched = append(watched, rate)
					e.Close()
					e = nil
				} else if block > 0 {
					plain = append(plain, rate)
				}
				if block%2 == 0 {
					e, _ = WatchRing(reg, "bench", r)
				}
			})
			if e != nil {
				e.Close()
			}
			if len(watched) > 0 && len(plain) > 0 {
				w, p := median(watched), median(plain)
				b.ReportMetric(w, "watched-msgs/s")
				b.ReportMetric(p, "unwatched-msgs/s")
				b.ReportMetric(w/p, "watched/unwatched")
			}
		})
	}
}

func median(v []float64) float64 {
	slices.Sort(v)
	return v[len(v)/2]
}

// streamBlock is how many messages a block of stream has.
const streamBlock = 1 << 18

// stream moves b.N messages from a producer pinned to one CPU to a
// consumer pinned to another, batch at a time, and reports msgs/s; every
// streamBlock messages it calls block with the block's number and the
// rate the producer saw over it (block -1 before the first).
func stream(b *testing.B, r *spin.Ring[tick], batch int, block func(int, float64)) {
	cpus, err := affinity.Allowed()
	if err != nil || len(cpus) < 2 {
		b.Skip("needs two CPUs")
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		undo, _ := affinity.Pin(cpus[1])
		defer undo()
		var got uint64
		deadline := time.Now().Add(time.Minute)
		for i := 0; got < uint64(b.N); i++ {
			k := r.Poll(0, func(*tick) { got++ })
			spin.BusySpin{}.Idle(k)
			if k == 0 && i&0xffff == 0 && time.Now().After(deadline) {
				panic("stream: the consumer waited a minute")
			}
		}
	}()
	undo, _ := affinity.Pin(cpus[0])
	defer undo()
	block(-1, 0)
	b.ResetTimer()
	t0, blocks := time.Now(), 0
	for i := 0; i < b.N; {
		if batch == 1 {
			if r.TryPublish(&tick{Seq: uint64(i)}) {
				i++
			}
		} else if n := r.ClaimN(min(batch, b.N-i)); n > 0 {
			for k := range n {
				r.Claimed(k).Seq = uint64(i + k)
			}
			r.Commit()
			i += n
		}
		if i/streamBlock > blocks {
			now := time.Now()
			block(blocks, streamBlock/now.Sub(t0).Seconds())
			blocks, t0 = i/streamBlock, time.Now()
		}
	}
	<-done
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

// BenchmarkWatchedCall: link calls to a server listened through the
// registry (ListenWatched: its Stats sampled every millisecond, one
// request in link.LatencyEvery timed by the poller) from a Conn dialled
// through it (DialWatched: one call in link.LatencyEvery timed), against
// a plain server and Conn, in the same process, in alternating blocks of
// 4096 calls. The servers' pollers back off to sleeping when idle
// (spin.Backoff), so that the one not called leaves the CPUs to the
// other and the client. Reports each side's median block rate and their
// ratio (watched/unwatched; the target: ≥ 0.98).
func BenchmarkWatchedCall(b *testing.B) {
	reg, err := NewRegistry(Options{Dir: b.TempDir(), Interval: time.Millisecond})
	if err != nil {
		b.Fatal(err)
	}
	defer reg.Close()
	dir := b.TempDir()
	echo := func(q, r *tick) { *r = *q }
	backoff := func() spin.Idler {
		return &spin.Backoff{Spins: 2000, Yields: 50, MinPark: 20 * time.Microsecond, MaxPark: 200 * time.Microsecond}
	}
	ws, we, err := ListenWatched[tick, tick](reg, "watched", "watched", link.Options{Dir: dir, Idler: backoff})
	if err != nil {
		b.Fatal(err)
	}
	defer we.Close()
	defer ws.Close()
	go ws.Serve(echo)
	ps, err := link.Listen[tick, tick]("plain", link.Options{Dir: dir, Idler: backoff})
	if err != nil {
		b.Fatal(err)
	}
	defer ps.Close()
	go ps.Serve(echo)
	wc, ce, err := DialWatched[tick, tick](reg, "watched.client", "watched", link.DialOptions{Dir: dir})
	if err != nil {
		b.Fatal(err)
	}
	defer ce.Close()
	defer wc.Close()
	pc, err := link.Dial[tick, tick]("plain", link.DialOptions{Dir: dir})
	if err != nil {
		b.Fatal(err)
	}
	defer pc.Close()
	var watched, plain []float64
	deadline := time.Now().Add(time.Hour)
	var r tick
	const block = 4096
	b.ResetTimer()
	for i := 0; i < b.N; i += block {
		c, rates := pc, &plain
		if i/block%2 == 1 {
			c, rates = wc, &watched
		}
		t0 := time.Now()
		for k := range min(block, b.N-i) {
			if err := c.Call(deadline, &tick{Seq: uint64(k)}, &r); err != nil {
				b.Fatal(err)
			}
		}
		*rates = append(*rates, block/time.Since(t0).Seconds())
	}
	b.StopTimer()
	if len(watched) > 0 {
		w, p := median(watched), median(plain)
		b.ReportMetric(w, "watched-calls/s")
		b.ReportMetric(p, "unwatched-calls/s")
		b.ReportMetric(w/p, "watched/unwatched")
	}
}
