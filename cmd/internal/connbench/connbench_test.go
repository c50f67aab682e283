package connbench

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/spinwire/spinwire/cmd/internal/echo"
	"github.com/spinwire/spinwire/link"
)

// TestRecord: a measured response's latency goes into the histogram
// without allocating, a response out of sequence fails the run, and a
// latency the histogram cannot hold is clamped rather than refused.
func TestRecord(t *testing.T) {
	res := &Result{Hist: NewHist()}
	d := newDriver(ClientConfig{Conns: 1, Pipeline: 1, Timeout: time.Second}, make([]*link.Conn[Msg, Resp], 1), res)
	d.measuring = true
	var r Resp
	if a := testing.AllocsPerRun(1000, func() {
		r.Seq, r.Stamp = d.next[0], d.now
		d.onResp(0, &r)
	}); a != 0 {
		t.Errorf("%v allocations per response", a)
	}
	if d.failure != nil || res.Requests != 1001 || res.Hist.TotalCount() != 1001 {
		t.Fatalf("failure %v, %d requests, %d recorded", d.failure, res.Requests, res.Hist.TotalCount())
	}
	r.Seq = d.next[0] + 5
	d.onResp(0, &r)
	if d.failure == nil || !strings.Contains(d.failure.Error(), "carries seq") {
		t.Fatalf("out of sequence: %v", d.failure)
	}
	h := NewHist()
	record(h, 1e12)
	record(h, -5)
	if h.TotalCount() != 2 || h.Max() < MaxLatency || h.ValueAtPercentile(0) != 0 {
		t.Fatalf("clamp: count %d, max %d, min %d", h.TotalCount(), h.Max(), h.ValueAtPercentile(0))
	}
}

func TestRun(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan struct{})
	done := make(chan error, 1)
	// Three runs of 50 connections each: the server detaches a closed
	// connection when it notices, not when the client closes it, so it has
	// room for all three at once.
	go func() {
		done <- echo.Serve(ctx, echo.Config{Name: "b", Dir: dir, MaxConns: 160}, func() { close(ready) })
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
		if res.Requests == 0 || res.PerSec <= 0 || uint64(res.Hist.TotalCount()) != res.Requests {
			t.Fatalf("%+v", res)
		}
		t.Logf("pipeline %d: %.0f req/s, p50 %d ns", pipeline, res.PerSec, res.Hist.ValueAtPercentile(50))
	}
	res, err := Run(ClientConfig{Name: "b", Dir: dir, Conns: 50, Pipeline: 1, Rotate: true, Warmup: 20 * time.Millisecond,
		Duration: 100 * time.Millisecond, CPU: -1, Timeout: 5 * time.Second})
	if err != nil || res.Requests == 0 {
		t.Fatalf("rotate: %v %+v", err, res)
	}
	t.Logf("rotate: %.0f req/s, p50 %d ns", res.PerSec, res.Hist.ValueAtPercentile(50))
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

// TestRunPush: with Push every connection takes pushes from a pushing
// echo server, one per request, and their latency is measured.
func TestRunPush(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- echo.Serve(ctx, echo.Config{Name: "p", Dir: dir, MaxConns: 64, Push: true}, func() { close(ready) })
	}()
	<-ready
	res, err := Run(ClientConfig{Name: "p", Dir: dir, Conns: 20, Pipeline: 2, Push: true, Warmup: 20 * time.Millisecond,
		Duration: 100 * time.Millisecond, CPU: -1, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if res.Pushes == 0 || uint64(res.PushHist.TotalCount()) != res.Pushes || res.Pushes > res.Requests+40 {
		t.Fatalf("pushes %d of %d requests, hist %d", res.Pushes, res.Requests, res.PushHist.TotalCount())
	}
	if _, err := Run(ClientConfig{Name: "b", Dir: t.TempDir(), Conns: 1, Pipeline: 1, Push: true}); err == nil {
		t.Fatal("dial to no server succeeded")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
