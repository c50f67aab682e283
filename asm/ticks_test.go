package asm

import (
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// testClocks returns the clock Ticks uses on this host and the monotonic
// fallback, so every test covers both.
func testClocks() map[string]*clock {
	return map[string]*clock{"detected": clk, "monotonic": monotonicClock("test")}
}

func TestTicksMonotonicPerThread(t *testing.T) {
	for name, c := range testClocks() {
		t.Run("clock="+name, func(t *testing.T) {
			defer setClock(c)()
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			last := Ticks()
			lastP, _ := TicksP()
			for i := range 100000 {
				now := Ticks()
				if now < last {
					t.Fatalf("read %d: Ticks went back from %d to %d", i, last, now)
				}
				last = now
				if i%16 == 0 {
					nowP, _ := TicksP()
					if nowP < lastP {
						t.Fatalf("read %d: TicksP went back from %d to %d", i, lastP, nowP)
					}
					lastP = nowP
				}
			}
		})
	}
}

func TestTicksMatchesGeneric(t *testing.T) {
	// Each source's ticks, converted, advance like the monotonic clock over
	// the same interval: the Ticks interval lies inside the nanotime
	// bracket and contains the sleep. Bounds are loose (calibration error,
	// rounding), and only ordering is asserted, never a duration.
	for name, c := range testClocks() {
		t.Run("clock="+name, func(t *testing.T) {
			defer setClock(c)()
			TicksPerSecond() // calibrate outside the bracket
			const sleep = 20 * time.Millisecond
			n0 := nanotime()
			t0 := Ticks()
			time.Sleep(sleep)
			t1 := Ticks()
			n1 := nanotime()
			got := TicksToNanos(t1 - t0)
			if got < 0.98*float64(sleep) || got > 1.02*float64(n1-n0) {
				t.Errorf("Ticks interval = %.0f ns; want within [%.0f, %.0f] (the sleep, the nanotime bracket); source %q, rate %.0f Hz",
					got, 0.98*float64(sleep), 1.02*float64(n1-n0), ClockSource(), TicksPerSecond())
			}
			if g := ticksGeneric(); g == 0 {
				t.Error("ticksGeneric returned 0")
			}
		})
	}
}

func TestTicksPCPU(t *testing.T) {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		t.Fatalf("sched_getaffinity: %v", err)
	}
	for name, c := range testClocks() {
		t.Run("clock="+name, func(t *testing.T) {
			defer setClock(c)()
			if _, cpu := TicksP(); int(cpu) >= runtime.NumCPU() || !set.IsSet(int(cpu)) {
				t.Errorf("TicksP cpu = %d; NumCPU = %d, affinity %d CPUs", cpu, runtime.NumCPU(), set.Count())
			}
			for cpu := range min(len(set)*64, 1024) {
				if !set.IsSet(cpu) {
					continue
				}
				func() {
					defer pin(t, cpu)()
					for range 10 {
						if _, got := TicksP(); int(got) != cpu {
							t.Errorf("pinned to CPU %d, TicksP says %d (source %q)", cpu, got, ClockSource())
							return
						}
					}
				}()
			}
		})
	}
}

func TestTicksPerSecond(t *testing.T) {
	// Sanity bounds, not timing assertions: a TSC runs at 100 MHz … 10 GHz;
	// an arm64 generic timer at 1 MHz … 1 GHz (commonly 24, 25 or 62.5 MHz;
	// 1 GHz from Armv8.6).
	f := TicksPerSecond()
	lo := 100e6
	if strings.HasPrefix(ClockSource(), "cntvct_el0:") {
		lo = 1e6
	}
	if !(f >= lo && f <= 10e9) {
		t.Errorf("TicksPerSecond = %g Hz, outside the sanity bound %g Hz … 10 GHz (source %q)", f, lo, ClockSource())
	}
	t.Logf("TicksPerSecond = %.6g Hz, source %q, InvariantTSC %v", f, ClockSource(), InvariantTSC())
	if f2 := TicksPerSecond(); f2 != f {
		t.Errorf("second call: %g, want the calibrated %g", f2, f)
	}
	if ns := TicksToNanos(uint64(f)); ns < 0.999e9 || ns > 1.001e9 {
		t.Errorf("TicksToNanos(TicksPerSecond()) = %g, want 1e9", ns)
	}
	defer setClock(monotonicClock("test"))()
	if f := TicksPerSecond(); f != 1e9 {
		t.Errorf("monotonic clock: TicksPerSecond = %g, want 1e9", f)
	}
}

func TestCalibrateAgainstNanotime(t *testing.T) {
	// A counter at exactly 3 ticks per nanosecond.
	f := calibrateAgainstNanotime(func() uint64 { return 3 * uint64(nanotime()) }, 5*time.Millisecond)
	if f < 2.97e9 || f > 3.03e9 {
		t.Errorf("calibrated %g Hz, want 3e9", f)
	}
	// A clock whose stated rate is 0 (firmware that left CNTFRQ_EL0 unset)
	// is calibrated instead.
	c := &clock{source: "test", freq: func() float64 { return 0 }}
	c.calibrate()
	if c.perSec < 0.97e9 || c.perSec > 1.03e9 {
		t.Errorf("calibrated the monotonic clock at %g Hz, want 1e9", c.perSec)
	}
}

func TestClockSource(t *testing.T) {
	src := ClockSource()
	kind, _, ok := strings.Cut(src, ":")
	if !ok || (kind != "tsc" && kind != "cntvct_el0" && kind != "monotonic") {
		t.Errorf("ClockSource() = %q, want it to start with tsc:, cntvct_el0: or monotonic:", src)
	}
	if kind == "tsc" && !InvariantTSC() {
		t.Errorf("ClockSource() = %q but InvariantTSC() is false", src)
	}
	// Linux derives the nonstop_tsc flag from the same CPUID bit.
	if info, err := os.ReadFile("/proc/cpuinfo"); err == nil && runtime.GOARCH == "amd64" && !strings.Contains(src, "noasm") {
		if has := strings.Contains(string(info), " nonstop_tsc"); has != InvariantTSC() {
			t.Errorf("InvariantTSC() = %v, but /proc/cpuinfo nonstop_tsc present = %v", InvariantTSC(), has)
		}
	}
	t.Logf("ClockSource: %s", src)
}

func BenchmarkTicks(b *testing.B) {
	b.Run("impl=Ticks", func(b *testing.B) { // what ClockSource names
		b.ReportAllocs()
		for b.Loop() {
			Ticks()
		}
	})
	b.Run("impl=TicksP", func(b *testing.B) { // one RDTSCP where Ticks uses it, else Ticks + getcpu
		b.ReportAllocs()
		for b.Loop() {
			TicksP()
		}
	})
	b.Run("impl=generic", func(b *testing.B) { // runtime nanotime
		b.ReportAllocs()
		for b.Loop() {
			ticksGeneric()
		}
	})
	b.Run("impl=generic-TicksP", func(b *testing.B) { // nanotime + getcpu system call
		defer setClock(monotonicClock("benchmark"))()
		b.ReportAllocs()
		for b.Loop() {
			TicksP()
		}
	})
	b.Run("impl=time.Now", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			time.Now()
		}
	})
	b.Run("impl=TicksToNanos", func(b *testing.B) {
		TicksPerSecond()
		b.ReportAllocs()
		t0 := Ticks()
		for b.Loop() {
			TicksToNanos(Ticks() - t0)
		}
	})
}
