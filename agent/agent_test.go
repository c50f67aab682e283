package agent

import (
	"context"
	"errors"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spinwire/spinwire/affinity"
	"github.com/spinwire/spinwire/spin"
)

func TestAgent(t *testing.T) {
	t.Run("runs_duty_until_cancelled_and_counts", agentRunsDutyUntilCancelledAndCounts)
	t.Run("pins_to_the_cpu", agentPinsToTheCpu)
	t.Run("panic_in_duty_becomes_an_error", agentPanicInDutyBecomesAnError)
	t.Run("refuses_bad_setup", agentRefusesBadSetup)
	t.Run("second_concurrent_run_is_refused", agentSecondConcurrentRunIsRefused)
	t.Run("dedicated_refuses_without_its_conditions", agentDedicatedRefusesWithoutItsConditions)
}

func agentRunsDutyUntilCancelledAndCounts(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var calls atomic.Int64
	a := &Agent{Name: "t"}
	done := make(chan error, 1)
	go func() {
		done <- a.Run(ctx, -1, spin.BusySpin{}, func() int {
			if calls.Add(1)%2 == 0 {
				return 3
			}
			return 0
		})
	}()
	for calls.Load() < 10_000 {
		time.Sleep(time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("agent did not stop")
	}
	st := a.Stats()
	if st.Iterations == 0 || st.Iterations != uint64(calls.Load())/PreemptEvery*PreemptEvery {
		t.Fatalf("stats %+v after %d calls", st, calls.Load())
	}
	if st.Work != 3*(st.Iterations/2) || st.Idles != st.Iterations/2 {
		t.Fatalf("stats %+v", st)
	}
}

func agentPinsToTheCpu(t *testing.T) {
	_, cpu := needCPUs(t)
	ctx, cancel := context.WithCancel(context.Background())
	a := &Agent{Name: "pinned", Logf: t.Logf}
	var seen atomic.Int64
	seen.Store(-2)
	err := a.Run(ctx, cpu, spin.NoOp{}, func() int {
		seen.Store(int64(affinity.CurrentCPU()))
		cancel()
		return 0
	})
	if err != nil || seen.Load() != int64(cpu) || a.CPU() != cpu {
		t.Fatalf("err %v, ran on %d, CPU() %d, want %d", err, seen.Load(), a.CPU(), cpu)
	}
}

func agentPanicInDutyBecomesAnError(t *testing.T) {
	a := &Agent{Name: "boom"}
	err := a.Run(context.Background(), -1, spin.NoOp{}, func() int { panic("kaput") })
	if !errors.Is(err, ErrPanic) || !strings.Contains(err.Error(), "kaput") {
		t.Fatalf("err = %v", err)
	}
}

func agentRefusesBadSetup(t *testing.T) {
	a := &Agent{}
	if err := a.Run(context.Background(), -1, nil, func() int { return 0 }); err == nil {
		t.Fatal("nil idler accepted")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := a.Run(ctx, -1, spin.NoOp{}, func() int { return 0 }); !errors.Is(err, ErrStopped) {
		t.Fatalf("cancelled ctx: %v", err)
	}
	if err := a.Run(context.Background(), 1<<20, spin.NoOp{}, func() int { return 0 }); err == nil || !strings.Contains(err.Error(), "1048576") {
		t.Fatalf("bad cpu: %v", err)
	}
}

func agentSecondConcurrentRunIsRefused(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a := &Agent{}
	started := make(chan struct{})
	var once atomic.Bool
	go a.Run(ctx, -1, spin.BusySpin{}, func() int {
		if once.CompareAndSwap(false, true) {
			close(started)
		}
		return 0
	})
	<-started
	if err := a.Run(ctx, -1, spin.NoOp{}, func() int { return 0 }); !errors.Is(err, ErrRunning) {
		t.Fatalf("err = %v", err)
	}
}

func agentDedicatedRefusesWithoutItsConditions(t *testing.T) {
	if AsyncPreemptOff() && GCPercent() < 0 {
		t.Skip("this process meets the dedicated conditions")
	}
	a := &Agent{Mode: Dedicated}
	err := a.Run(context.Background(), -1, spin.NoOp{}, func() int { return 0 })
	if !errors.Is(err, ErrDedicated) {
		t.Fatalf("err = %v", err)
	}
	t.Log(err)
}

func TestAgentWarnsAtMostOncePerProcess(t *testing.T) {
	_, cpu := needCPUs(t)
	var lines atomic.Int32
	logf := func(string, ...any) { lines.Add(1) }
	for range 2 {
		ctx, cancel := context.WithCancel(context.Background())
		a := &Agent{Name: "warn", Logf: logf}
		if err := a.Run(ctx, cpu, spin.NoOp{}, func() int { cancel(); return 0 }); err != nil {
			t.Fatal(err)
		}
	}
	if lines.Load() > 1 {
		t.Fatalf("%d placement warnings, want at most one per process", lines.Load())
	}
}

// GCPercent reads the setting back and leaves it as it was.
func TestGCPercent(t *testing.T) {
	old := debug.SetGCPercent(37)
	defer debug.SetGCPercent(old)
	if p := GCPercent(); p != 37 {
		t.Fatalf("GCPercent = %d, want 37", p)
	}
	if p := debug.SetGCPercent(-1); p != 37 {
		t.Fatalf("GCPercent changed the setting to %d", p)
	}
	if p := GCPercent(); p != -1 {
		t.Fatalf("GC off: GCPercent = %d, want -1", p)
	}
}

// A pinned agent's Run allocates nothing on a successful start and stop
// (after the process's one placement check, which the first pinned Run
// starts and waits for): a dedicated spinner's P never gives back the heap
// spans its allocations take. The contexts' Done channels are made
// beforehand, as Run's doc asks.
func TestPinnedRunAllocatesNothing(t *testing.T) {
	_, cpu := needCPUs(t)
	const runs = 20
	ctxs := make([]context.Context, runs+1)
	cancels := make([]context.CancelFunc, runs+1)
	for i := range ctxs {
		ctxs[i], cancels[i] = context.WithCancel(context.Background())
		ctxs[i].Done()
	}
	got := make(chan float64)
	go func() { // Run locks and pins this goroutine's thread for good
		a := &Agent{Name: "allocs", Logf: func(string, ...any) {}}
		i := 0
		duty := func() int { cancels[i](); return 0 }
		got <- testing.AllocsPerRun(runs, func() {
			if err := a.Run(ctxs[i], cpu, spin.NoOp{}, duty); err != nil {
				t.Error(err)
			}
			i++
		})
	}()
	if n := <-got; n != 0 {
		t.Fatalf("a pinned Run allocates %v objects", n)
	}
}
