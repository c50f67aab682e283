package asm

import (
	"sync"
	"time"
	_ "unsafe" // for go:linkname
)

// clockMode says how Ticks reads its counter; ticksAsm switches on it.
type clockMode = uint8

const (
	clockMonotonic = 0 // runtime nanotime (ticksGeneric)
	clockCounter   = 1 // LFENCE;RDTSC on amd64, ISB;MRS CNTVCT_EL0 on arm64
	clockRDTSCP    = 2 // RDTSCP, amd64; TicksP gets the cpu from the same instruction
)

// clock is one source for Ticks: what it reads, how it learns its rate.
// The package variable clk holds the one chosen at init (detectClock); tests
// swap it with setClock.
type clock struct {
	mode      clockMode      // how Ticks reads it
	source    string         // ClockSource
	freq      func() float64 // the counter's rate when the hardware states it; nil: calibrate
	once      sync.Once      // guards perSec and nsPerTick
	perSec    float64        // ticks per second
	nsPerTick float64        // 1e9 / perSec
}

// clk is what Ticks reads, chosen once by detectClock; ticksMode mirrors
// clk.mode for the assembly (ticksAsm), which cannot follow a pointer
// cheaply.
var (
	clk       *clock
	ticksMode clockMode
)

func init() { setClock(detectClock()) }

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
	clk, ticksMode = c, c.mode
	return func() { setClock(old) }
}

// Ticks returns the current value of a constant-rate counter that only grows
// (ClockSource says which):
//
//   - amd64 with an invariant TSC: RDTSCP, or LFENCE;RDTSC on a CPU without
//     RDTSCP — the same choice as runtime.cputicks, whose fallback is
//     MFENCE;LFENCE;RDTSC;
//   - arm64: ISB, then the generic timer CNTVCT_EL0;
//   - otherwise (no invariant TSC, noasm, another GOARCH): the runtime's
//     monotonic clock in nanoseconds.
//
// Convert differences with TicksToNanos; TicksPerSecond gives the rate.
//
// Cost on the Sapphire Rapids VM of the package documentation
// (BenchmarkTicks): impl=Ticks ≈ 19 ns with RDTSCP, inlined into the
// caller as one call; impl=generic (runtime nanotime) ≈ 28 ns;
// impl=time.Now ≈ 49 ns. The fence is most of the cost: an unfenced RDTSC
// is cheaper but may be taken before earlier loads complete.
//
// Ordering: the counter is read after every earlier instruction has
// executed and every earlier load has completed (RDTSCP; LFENCE waits for
// the same; ISB on arm64), so a Ticks after a load that saw a message is
// not taken before that load. Earlier stores may still sit in the store
// buffer, and later instructions may start before the read: to keep later
// work out of an interval, put a dependency or a fence after Ticks.
//
// Across CPUs: an invariant TSC is synchronised between the CPUs of a host by
// the firmware and the kernel (Linux checks at boot and switches to another
// clocksource when it is not, see /sys/devices/system/clocksource), so ticks
// taken on two CPUs can be subtracted; without an invariant TSC Ticks falls
// back to the monotonic clock, which is always comparable.
func Ticks() uint64 { return ticksAsm() }

// TicksP returns Ticks together with the number of the CPU it was read on.
// On amd64 with an invariant TSC and RDTSCP it is one RDTSCP, and cpu is the
// low 12 bits of IA32_TSC_AUX, where Linux keeps the CPU number (the NUMA
// node is in the bits above). Elsewhere it is Ticks plus a getcpu system
// call, and cpu is 0 on systems other than Linux.
//
// Cost on the Sapphire Rapids VM (BenchmarkTicks): impl=TicksP ≈ 20 ns
// with RDTSCP; impl=generic-TicksP, through getcpu (nanotime + the system
// call), ≈ 150 ns.
//
// Ordering: as Ticks. The cpu is the one the counter was read on; the thread
// may leave it at once unless it is pinned.
func TicksP() (ticks uint64, cpu uint32) {
	if ticksMode == clockRDTSCP {
		t, aux := ticksPHW()
		return t, aux & 0xfff
	}
	return Ticks(), getcpu()
}

// TicksPerSecond returns the rate of Ticks. The first call on a TSC
// calibrates it against the monotonic clock over at least 100 ms (it sleeps
// for that long); later calls cost a load. On arm64 the rate is CNTFRQ_EL0
// (1 MHz … 1 GHz; often 24 MHz, so one tick can be 40 ns), on the monotonic
// fallback exactly 1e9, and neither needs calibration.
// Call it once at start-up, off the hot path, so no message pays for the
// calibration.
func TicksPerSecond() float64 {
	c := clk
	c.once.Do(c.calibrate)
	return c.perSec
}

// TicksToNanos converts a difference of two Ticks into nanoseconds, with the
// rate from TicksPerSecond (the first call calibrates; see there). After
// that it costs an atomic load and a multiplication, so a message path can
// time itself without time.Now.
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

// ticks reads c as Ticks would, whether or not c is clk (calibration).
func (c *clock) ticks() uint64 {
	switch c.mode {
	case clockRDTSCP:
		t, _ := ticksPHW()
		return t
	case clockCounter:
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
