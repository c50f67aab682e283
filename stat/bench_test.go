package stat

import (
	"strconv"
	"testing"
	"time"

	"github.com/spinwire/spinwire/affinity"
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

// BenchmarkWatchedStream streams 64-byte messages between two pinned
// goroutines through a Ring, watched by a registry sampling it every
// millisecond (100 times more often than the default) or not watched: what
// publishing a ring's counters costs its hot path (the target: within 2 %).
func BenchmarkWatchedStream(b *testing.B) {
	for _, watched := range []bool{false, true} {
		b.Run("watched="+strconv.FormatBool(watched), func(b *testing.B) {
			r := newRing(b, 1024)
			if watched {
				reg, err := NewRegistry(Options{Dir: b.TempDir(), Interval: time.Millisecond})
				if err != nil {
					b.Fatal(err)
				}
				defer reg.Close()
				e, _ := WatchRing(reg, "bench", r)
				defer e.Close()
			}
			stream(b, r)
		})
	}
}

// stream moves b.N messages from a producer pinned to one CPU to a
// consumer pinned to another, and reports msgs/s.
func stream(b *testing.B, r *spin.Ring[tick]) {
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
	b.ResetTimer()
	for i := 0; i < b.N; {
		if r.TryPublish(&tick{Seq: uint64(i)}) {
			i++
		}
	}
	<-done
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}
