package connbench

import (
	"context"
	"math/rand/v2"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/spinwire/spinwire/cmd/internal/echo"
)

func TestHistQuantilesWithinOneBucket(t *testing.T) {
	h := NewHist()
	rng := rand.New(rand.NewPCG(1, 2))
	var vs []uint64
	for range 100_000 {
		v := uint64(rng.ExpFloat64() * 500)
		vs = append(vs, v)
		h.Record(float64(v))
	}
	slices.Sort(vs)
	for _, q := range []float64{0, 0.5, 0.9, 0.99, 0.999} {
		exact := vs[int(q*float64(len(vs)))]
		got := h.Quantile(q)
		if got > exact || float64(exact-got) > float64(exact)/64+1 {
			t.Errorf("q%.3f: %d, exact %d", q, got, exact)
		}
	}
	if h.Count() != 100_000 || h.Max() != vs[len(vs)-1] {
		t.Fatal("count/max")
	}
	var above uint64
	for _, v := range vs {
		if bucket(v) > bucket(1000) {
			above++
		}
	}
	if h.CountAbove(1000) != above || h.Mean() <= 0 || NewHist().Mean() != 0 {
		t.Fatalf("above %d (want %d), mean %v", h.CountAbove(1000), above, h.Mean())
	}
	if NewHist().Quantile(0.5) != 0 {
		t.Fatal("empty")
	}
}

func TestRun(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- echo.Serve(ctx, echo.Config{Name: "b", Dir: dir, MaxConns: 64}, func() { close(ready) })
	}()
	<-ready
	var mem, end Memory
	for _, pipeline := range []int{1, 4} {
		res, err := Run(ClientConfig{Name: "b", Dir: dir, Conns: 50, Pipeline: pipeline, Warmup: 20 * time.Millisecond,
			Duration: 100 * time.Millisecond, CPU: -1, Timeout: 5 * time.Second,
			Attached: func() { mem, _ = ReadMemory(os.Getpid()) },
			Finished: func() { end, _ = ReadMemory(os.Getpid()) }})
		if err != nil {
			t.Fatal(err)
		}
		if res.Requests == 0 || res.PerSec <= 0 || res.Hist.Count() != res.Requests {
			t.Fatalf("%+v", res)
		}
		t.Logf("pipeline %d: %.0f req/s, p50 %d ns", pipeline, res.PerSec, res.Hist.Quantile(0.5))
	}
	res, err := Run(ClientConfig{Name: "b", Dir: dir, Conns: 50, Pipeline: 1, Rotate: true, Warmup: 20 * time.Millisecond,
		Duration: 100 * time.Millisecond, CPU: -1, Timeout: 5 * time.Second})
	if err != nil || res.Requests == 0 {
		t.Fatalf("rotate: %v %+v", err, res)
	}
	t.Logf("rotate: %.0f req/s, p50 %d ns", res.PerSec, res.Hist.Quantile(0.5))
	if mem.VmRSS == 0 || end.VmRSS == 0 {
		t.Fatal("no memory figures")
	}
	if _, err := Run(ClientConfig{Name: "b", Dir: dir, Conns: 0}); err == nil {
		t.Fatal("zero conns accepted")
	}
	if _, err := Run(ClientConfig{Name: "nope", Dir: dir, Conns: 1, Pipeline: 1}); err == nil {
		t.Fatal("dial to no server succeeded")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, err := ReadMemory(-1); err == nil {
		t.Fatal("memory of pid -1")
	}
}
