package topic

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spinwire/spinwire/affinity"
	"github.com/spinwire/spinwire/asm"
	"github.com/spinwire/spinwire/layout"
	"github.com/spinwire/spinwire/spin"
)

// TestNoAllocations: publishing and receiving allocate nothing, latency
// stamps and a subscriber's samples included, nor does an idle
// subscriber's look at the topic's name, nor Wait.
func TestNoAllocations(t *testing.T) {
	p, dir := create(t, Options{Capacity: 1024, Policy: Reliable})
	s, err := Subscribe[tick]("ticks", SubscribeOptions{Dir: dir, Latency: nopRecorder{}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	p.subs.scan()
	var m tick
	fn := func(v *tick) { m = *v }
	if a := testing.AllocsPerRun(1000, func() {
		p.TryPublish(&m)
		s.Poll(fn, 0)
	}); a != 0 {
		t.Fatalf("%v allocations per message", a)
	}
	// An idle subscriber looks at the topic's name about once a
	// millisecond (housekeep) for as long as it polls.
	if a := testing.AllocsPerRun(100, s.follow); a != 0 {
		t.Fatalf("%v allocations per look at the topic's name", a)
	}
	// A wait that times out, and one long enough to look at the name.
	if a := testing.AllocsPerRun(10, func() { s.Wait(time.Microsecond) }); a != 0 {
		t.Fatalf("%v allocations per Wait", a)
	}
	if a := testing.AllocsPerRun(2, func() { s.Wait(followEvery + time.Millisecond) }); a != 0 {
		t.Fatalf("%v allocations per long Wait", a)
	}
}

// BenchmarkPublish: the publisher's rate with subs subscribers attached
// and not reading (Lossy: the cost must not grow with them), and the
// stream rate to one subscriber polling on another CPU (both policies).
func BenchmarkPublish(b *testing.B) {
	for _, subs := range []int{0, 1, 8, 64, 256} {
		b.Run(fmt.Sprintf("lossy/attached=%d", subs), func(b *testing.B) {
			p, dir := create(b, Options{Capacity: 1024})
			for range subs {
				subscribe(b, dir)
			}
			m := tick{}
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				m.Seq = uint64(i)
				p.TryPublish(&m)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
		})
	}
	// Claim and Commit, 64 at a time: one store of the tail and one look
	// at the bell a batch.
	b.Run("lossy/claim=64", func(b *testing.B) {
		p, dir := create(b, Options{Capacity: 1024})
		subscribe(b, dir)
		for i := 0; b.Loop(); {
			n := p.Claim(64)
			for k := range n {
				p.Claimed(k).Seq = uint64(i + k)
			}
			p.Commit()
			i += n
		}
		b.ReportMetric(float64(b.N*64)/b.Elapsed().Seconds(), "msgs/s")
	})
	// A subscriber that naps in Wait once every 64 messages rings the bell
	// each time: the publish after it wakes (wait.go). Without the bell's
	// handshake, the tracker holds the bell while such a subscriber has
	// parked within wakeSticky, and every publish wakes (waking).
	for _, c := range []struct {
		name  string
		every int
		bell  uint32
	}{{"napping", 64, bellRung}, {"waking", 1, bellHeld}} {
		b.Run("lossy/"+c.name, func(b *testing.B) {
			p, dir := create(b, Options{Capacity: 1024})
			subscribe(b, dir)
			m := tick{}
			for i := 0; b.Loop(); i++ {
				if i%c.every == 0 {
					atomic.StoreUint32(p.bell, c.bell)
				}
				p.TryPublish(&m)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
		})
	}
	for _, pol := range []Policy{Lossy, Reliable} {
		b.Run("stream/"+pol.String(), func(b *testing.B) { benchStream(b, Options{Policy: pol}, 1, nil) })
	}
	// History h makes a reliable publisher read the positions every
	// 1024-h messages at least (Publisher.room).
	for _, h := range []int{512, 1023} {
		b.Run(fmt.Sprintf("stream/reliable/history=%d", h), func(b *testing.B) {
			benchStream(b, Options{Policy: Reliable, History: h}, 1, nil)
		})
	}
	b.Run("stream/reliable/latency", func(b *testing.B) {
		var r samples
		benchStream(b, Options{Policy: Reliable}, 1, &r)
		if len(r) > 0 {
			b.ReportMetric(float64(len(r)), "samples")
		}
	})
}

// BenchmarkFanout: the stream from a publisher on one CPU to subs
// subscriptions polled in turn by one goroutine on the other, and, as the
// baseline in the same run, a spin.Ring (in-slot, the same 56-byte
// message, the same capacity) between the same two CPUs. Compare the
// msgs/s of each case with the ring's of the same -count iteration.
func BenchmarkFanout(b *testing.B) {
	b.Run("ring", benchRing)
	for _, subs := range []int{1, 8} {
		for _, pol := range []Policy{Lossy, Reliable} {
			b.Run(fmt.Sprintf("%s/subs=%d", pol, subs), func(b *testing.B) { benchStream(b, Options{Policy: pol}, subs, nil) })
		}
	}
}

// benchRing streams b.N ticks through a spin.Ring to a consumer on a
// second CPU.
func benchRing(b *testing.B) {
	cpus := twoCPUs(b)
	n, _, err := spin.RingLength[tick](1024, spin.InSlot)
	if err != nil {
		b.Fatal(err)
	}
	seg, err := layout.Create(n, layout.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer seg.Close()
	r, err := spin.NewRing[tick](seg.Body(), spin.RingOptions{Capacity: 1024, Protocol: spin.InSlot})
	if err != nil {
		b.Fatal(err)
	}
	streamPinned(b, cpus, func() uint64 {
		var got uint64
		for deadline := time.Now().Add(time.Minute); got < uint64(b.N) && time.Now().Before(deadline); {
			for i := 0; i < 1<<16 && got < uint64(b.N); i++ {
				n := r.Poll(0, func(*tick) { got++ })
				spin.BusySpin{}.Idle(n)
			}
		}
		return got
	}, func(m *tick) {
		for !r.TryPublish(m) {
			asm.Pause()
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

// streamPinned runs consume on a goroutine pinned to cpus[1], then sends
// b.N ticks (Seq 0, 1, …) from this goroutine pinned to cpus[0], timed,
// and returns what consume returned.
func streamPinned(b *testing.B, cpus []int, consume func() uint64, send func(*tick)) uint64 {
	done := make(chan uint64)
	go func() {
		undo, _ := affinity.Pin(cpus[1])
		defer undo()
		done <- consume()
	}()
	undo, _ := affinity.Pin(cpus[0])
	defer undo()
	b.ResetTimer()
	var m tick
	for i := 0; i < b.N; i++ {
		m.Seq = uint64(i)
		send(&m)
	}
	return <-done
}

// twoCPUs skips b unless two CPUs can be pinned, and returns them.
func twoCPUs(b *testing.B) []int {
	cpus, err := affinity.Allowed()
	if err != nil || len(cpus) < 2 {
		b.Skip("needs two CPUs")
	}
	return cpus
}

// nopRecorder is a Recorder that drops what it is given.
type nopRecorder struct{}

func (nopRecorder) Record(int64) {}

// samples is a Recorder that keeps what it is given.
type samples []int64

func (s *samples) Record(ns int64) { *s = append(*s, ns) }

// benchStream moves b.N messages to subs subscribers polled in turn by
// one goroutine on a second CPU; reports msgs/s and what was lost.
func benchStream(b *testing.B, opts Options, subs int, latency *samples) {
	cpus := twoCPUs(b)
	p, dir, ss := localTopic(b, opts, subs)
	if latency != nil {
		*latency = make(samples, 0, b.N/StampEvery+1)
		s, err := Subscribe[tick]("ticks", SubscribeOptions{Dir: dir, Latency: latency})
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		ss[0].Close()
		ss[0] = s
	}
	got := streamPinned(b, cpus, func() uint64 {
		var got uint64
		fn := func(*tick) { got++ }
		want := uint64(b.N) * uint64(subs)
		deadline := time.Now().Add(time.Minute)
		for i := 0; ; i++ {
			n, lost := 0, uint64(0)
			for _, s := range ss {
				k, _ := s.Poll(fn, 0)
				n += k
				lost += s.Lost()
			}
			if got+lost >= want || (n == 0 && i&0xffff == 0 && time.Now().After(deadline)) {
				return got
			}
			spin.BusySpin{}.Idle(n)
		}
	}, func(m *tick) {
		if p.Publish(m) != nil {
			b.Fatal("closed")
		}
	})
	var lost uint64
	for _, s := range ss {
		lost += s.Lost()
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
	b.ReportMetric(float64(lost), "lost")
	if opts.Policy == Reliable && got != uint64(b.N)*uint64(subs) {
		b.Fatalf("reliable: received %d of %d", got, b.N*subs)
	}
}

// BenchmarkPollLocal: the publisher and 1 or 8 subscriptions on one
// goroutine — 256 messages published, then each subscription polled — so
// the figure is the instructions, without a cache line crossing CPUs:
// ns/op is per message published and read by every subscription.
// acquire/subs=8 reads with Acquire and At instead of Poll.
func BenchmarkPollLocal(b *testing.B) {
	b.Run("acquire/subs=8", func(b *testing.B) {
		p, _, ss := localTopic(b, Options{Policy: Reliable}, 8)
		var m tick
		var got uint64
		for i := 0; b.Loop(); i++ {
			if i&255 == 0 {
				for _, s := range ss {
					for n := s.Acquire(0); n != 0; n = s.Acquire(0) {
						for j := range n {
							got += s.At(j).Seq
						}
					}
				}
			}
			p.TryPublish(&m)
		}
	})
	for _, inPlace := range []bool{false, true} {
		for _, subs := range []int{1, 8} {
			name := fmt.Sprintf("subs=%d", subs)
			if inPlace {
				name = "inplace/" + name
			}
			b.Run(name, func(b *testing.B) {
				p, _, ss := localTopic(b, Options{Policy: Reliable}, subs)
				var m tick
				var got uint64
				fn := func(*tick) { got++ }
				for i := 0; b.Loop(); i++ {
					if i&255 == 0 {
						for _, s := range ss {
							s.poll(fn, 0, inPlace) // Poll or PollInPlace
						}
					}
					p.TryPublish(&m)
				}
			})
		}
	}
}

// BenchmarkPollOne: a message published, then 8 subscriptions polled for
// it, on one goroutine: ns/op is a lone message's publish and its eight
// receipts, one Poll each (the latency path's instructions; each Poll
// also finds the next slot not written yet).
func BenchmarkPollOne(b *testing.B) {
	p, _, ss := localTopic(b, Options{Policy: Reliable}, 8)
	var m tick
	var got uint64
	fn := func(*tick) { got++ }
	for b.Loop() {
		p.TryPublish(&m)
		for _, s := range ss {
			s.Poll(fn, 0)
		}
	}
	if got != uint64(b.N)*8 {
		b.Fatalf("received %d of %d", got, b.N*8)
	}
}

// BenchmarkAcquireOne is BenchmarkPollOne with Acquire and At: each
// subscription's turn is one Acquire, which takes the message and finds
// the next not ready.
func BenchmarkAcquireOne(b *testing.B) {
	p, _, ss := localTopic(b, Options{Policy: Reliable}, 8)
	var m tick
	var got uint64
	for b.Loop() {
		p.TryPublish(&m)
		for _, s := range ss {
			if n := s.Acquire(16); n > 0 {
				got += uint64(n) + s.At(0).Seq
			}
		}
	}
	if got != uint64(b.N)*8 {
		b.Fatalf("received %d of %d", got, b.N*8)
	}
}

// localTopic is a topic of 1024 slots under pol, in a directory of its
// own, and subs subscriptions in this process, which the publisher has
// seen.
func localTopic(b *testing.B, opts Options, subs int) (*Publisher[tick], string, []*Subscriber[tick]) {
	opts.Capacity = 1024
	p, dir := create(b, opts)
	ss := make([]*Subscriber[tick], subs)
	for i := range ss {
		ss[i] = subscribe(b, dir)
	}
	p.subs.scan()
	return p, dir, ss
}
