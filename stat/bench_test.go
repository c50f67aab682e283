package stat

import (
	"testing"
	"time"
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
