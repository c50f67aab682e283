package topic

import (
	"fmt"
	"testing"
	"time"

	"github.com/spinwire/spinwire/affinity"
	"github.com/spinwire/spinwire/spin"
)

// TestNoAllocations: publishing and receiving allocate nothing, latency
// stamps and a subscriber's samples included.
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
	for _, pol := range []Policy{Lossy, Reliable} {
		b.Run("stream/"+pol.String(), func(b *testing.B) { benchStream(b, pol, nil) })
	}
	b.Run("stream/reliable/latency", func(b *testing.B) {
		var r samples
		benchStream(b, Reliable, &r)
		if len(r) > 0 {
			b.ReportMetric(float64(len(r)), "samples")
		}
	})
}

// nopRecorder is a Recorder that drops what it is given.
type nopRecorder struct{}

func (nopRecorder) Record(int64) {}

// samples is a Recorder that keeps what it is given.
type samples []int64

func (s *samples) Record(ns int64) { *s = append(*s, ns) }

// benchStream moves b.N messages to one subscriber polling on a second
// CPU; reports msgs/s and what was lost.
func benchStream(b *testing.B, pol Policy, latency *samples) {
	cpus, err := affinity.Allowed()
	if err != nil || len(cpus) < 2 {
		b.Skip("needs two CPUs")
	}
	p, dir := create(b, Options{Capacity: 1024, Policy: pol})
	var s *Subscriber[tick]
	if latency != nil {
		*latency = make(samples, 0, b.N/StampEvery+1)
		if s, err = Subscribe[tick]("ticks", SubscribeOptions{Dir: dir, Latency: latency}); err != nil {
			b.Fatal(err)
		}
		defer s.Close()
	} else {
		s = subscribe(b, dir)
	}
	p.subs.scan()
	done := make(chan uint64)
	go func() {
		undo, _ := affinity.Pin(cpus[1])
		defer undo()
		var got uint64
		deadline := time.Now().Add(time.Minute)
		for i := 0; got+s.Lost() < uint64(b.N); i++ {
			n, _ := s.Poll(func(*tick) { got++ }, 0)
			spin.BusySpin{}.Idle(n)
			if n == 0 && i&0xffff == 0 && time.Now().After(deadline) {
				break
			}
		}
		done <- got
	}()
	undo, _ := affinity.Pin(cpus[0])
	defer undo()
	b.ResetTimer()
	var m tick
	for i := 0; i < b.N; i++ {
		m.Seq = uint64(i)
		if p.Publish(&m) != nil {
			b.Fatal("closed")
		}
	}
	got := <-done
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
	b.ReportMetric(float64(s.Lost()), "lost")
	if pol == Reliable && got != uint64(b.N) {
		b.Fatalf("reliable: received %d of %d", got, b.N)
	}
}
