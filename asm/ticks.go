package asm

import (
	"sync"
	"time"
	_ "unsafe" // for go:linkname
)

// clock is one source for Ticks: what it reads, how it learns its rate.
// The package variable clk holds the one chosen at init (detectClock); tests
// swap it with setClock.
type clock struct {
	hw        bool           // Ticks reads the hardware counter (ticksHW), not the monotonic clock
	hwCPU     bool           // TicksP reads counter and cpu id in one instruction (ticksPHW: RDTSCP)
	source    string         // ClockSource
	freq      func() float64 // the counter's rate when the hardware states it; nil: calibrate
	once      sync.Once      // guards perSec and nsPerTick
	perSec    float64        // ticks per second
	nsPerTick float64        // 1e9 / perSec
}

// clk is what Ticks reads; chosen once by detectClock.
var clk = detectClock()

// invariantTSC is CPUID 0x80000007 EDX bit 8, read at init (false off amd64
// and with noasm).
var invariantTSC = detectInvariantTSC()

// monotonicClock is the fallback: the runtime's monotonic clock in
// nanoseconds.
func monotonicClock(why string) *clock {
	return &clock{
		source: "monotonic: runtime nanotime, 1 tick = 1 ns (" + why + ")",
		freq:   func() float64 { return 1e9 },
	}
}

// setClock makes c the clock Ticks reads until the returned function restores
// the previous one. For tests; not safe while other goroutines read ticks.
func setClock(c *clock) (restore func()) {
	old := clk
	clk = c
	return func() { clk = old }
}

// Ticks returns the current value of a constant-rate counter that only grows:
// the TSC read with LFENCE;RDTSC on amd64 when the TSC is invariant, the
// generic timer CNTVCT_EL0 after an ISB on arm64, and otherwise the runtime's
// monotonic clock in nanoseconds (ClockSource says which). Convert
// differences with TicksToNanos; TicksPerSecond gives the rate.
//
// Cost on the development host: ≈ TICKSNS ns (runtime nanotime: ≈ NANOTIMENS ns,
// time.Now: ≈ TIMENOWNS ns).
//
// Ordering: every earlier instruction has completed locally before the counter
// is read (LFENCE; ISB on arm64), so a Ticks after a load sees the load done;
// earlier stores may still sit in the store buffer, and later instructions may
// begin before the read. That is the bracket runtime.cputicks and Linux's
// rdtsc_ordered use.
//
// Across CPUs: an invariant TSC is synchronised between the CPUs of a host by
// the firmware and the kernel (Linux checks, and falls back to another
// clocksource when it is not, see /sys/devices/system/clocksource), so ticks
// taken on two CPUs can be subtracted; without an invariant TSC Ticks falls
// back to the monotonic clock, which is always comparable.
func Ticks() uint64 {
	if clk.hw {
		return ticksHW()
	}
	return ticksGeneric()
}

// TicksP returns Ticks together with the number of the CPU it was read on.
// On amd64 with an invariant TSC and RDTSCP it is one RDTSCP, and cpu is the
// low 12 bits of IA32_TSC_AUX, where Linux keeps the CPU number (the node is
// in the bits above). Elsewhere it is Ticks plus a getcpu system call, and
// cpu is 0 on systems other than Linux.
//
// Cost on the development host: ≈ TICKSPNS ns with RDTSCP; ≈ GETCPUNS ns through
// getcpu.
//
// Ordering: RDTSCP waits until every earlier instruction has executed and
// every earlier load is globally visible; earlier stores may still be
// buffered and later instructions may begin before the read. The cpu is the
// one the counter was read on, which the thread may leave at once unless it is
// pinned.
func TicksP() (ticks uint64, cpu uint32) {
	if clk.hwCPU {
		t, aux := ticksPHW()
		return t, aux & 0xfff
	}
	return Ticks(), getcpu()
}

// TicksPerSecond returns the rate of Ticks. The first call on a TSC
// calibrates it against the monotonic clock over at least 100 ms (it sleeps
// for that long); later calls cost a load. On arm64 the rate is CNTFRQ_EL0, on
// the monotonic fallback exactly 1e9, and neither needs calibration.
// Call it once at start-up, off the hot path, so no message pays for the
// calibration.
func TicksPerSecond() float64 {
	c := clk
	c.once.Do(c.calibrate)
	return c.perSec
}

// TicksToNanos converts a difference of two Ticks into nanoseconds, with the
// rate from TicksPerSecond (the first call calibrates; see there). It costs a
// load and a multiplication, so a message path can time itself without
// time.Now.
func TicksToNanos(t uint64) float64 {
	c := clk
	c.once.Do(c.calibrate)
	return float64(t) * c.nsPerTick
}

// InvariantTSC reports whether the CPU says its time-stamp counter runs at a
// constant rate in every P-, C- and T-state (CPUID leaf 0x80000007, EDX bit 8;
// Linux shows it as the nonstop_tsc flag). It is the hardware's answer, read
// once at init, whatever Ticks reads; false off amd64 (arm64's generic timer
// is constant-rate by architecture: see ClockSource) and with the noasm tag.
// Hypervisors often hide the bit even when the host's TSC is invariant.
func InvariantTSC() bool { return invariantTSC }

// ClockSource describes what Ticks reads: it starts with "tsc:",
// "cntvct_el0:" or "monotonic:", followed by how the counter is read and,
// for the fallback, why.
func ClockSource() string { return clk.source }

// calibrate sets c.perSec and c.nsPerTick, from c.freq when the hardware
// states the rate, else by timing ticks against nanotime over ≥ 100 ms.
func (c *clock) calibrate() {
	var f float64
	if c.freq != nil {
		f = c.freq()
	}
	if !(f > 0) {
		f = calibrateAgainstNanotime(c.ticks, calibrationWindow)
	}
	c.perSec = f
	c.nsPerTick = 1e9 / f
}

// ticks reads c (used by calibration, independent of clk).
func (c *clock) ticks() uint64 {
	if c.hw {
		return ticksHW()
	}
	return ticksGeneric()
}

// calibrationWindow is how long calibrateAgainstNanotime measures.
const calibrationWindow = 100 * time.Millisecond

// calibrateAgainstNanotime returns the rate of ticks in ticks per second,
// measured against the monotonic clock over at least window. Each end takes
// the tightest of several nanotime/ticks/nanotime brackets, so a preemption
// in the middle of one read costs accuracy only if it hits every try.
func calibrateAgainstNanotime(ticks func() uint64, window time.Duration) float64 {
	sample := func() (ns int64, t uint64) {
		best := int64(1<<63 - 1)
		for range 16 {
			n0 := nanotime()
			tt := ticks()
			n1 := nanotime()
			if d := n1 - n0; d < best {
				best, ns, t = d, n0+d/2, tt
			}
		}
		return ns, t
	}
	n0, t0 := sample()
	time.Sleep(window)
	n1, t1 := sample()
	for n1-n0 < int64(window) { // Sleep may wake early by the clock's reckoning
		time.Sleep(time.Duration(int64(window) - (n1 - n0)))
		n1, t1 = sample()
	}
	return float64(t1-t0) * 1e9 / float64(n1-n0)
}

// ticksGeneric is the reference for ticksHW: the runtime's monotonic clock.
func ticksGeneric() uint64 { return uint64(nanotime()) }

// nanotime is the runtime's monotonic clock in nanoseconds (what time.Now's
// monotonic reading uses, without the wall clock). The runtime keeps it
// linkname-able on purpose ("hall of shame", runtime/time_nofake.go).
//
//go:linkname nanotime runtime.nanotime
func nanotime() int64
