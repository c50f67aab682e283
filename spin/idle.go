package spin

import (
	"time"

	"github.com/spinwire/spinwire/asm"
	"golang.org/x/sys/unix"
)

// Idler is what a polling loop does between polls. The contract, after
// Agrona's IdleStrategy:
//
//	for running {
//		idler.Idle(doWork()) // work > 0: reset and return; 0: wait a little
//	}
//
// Idle(work) with work > 0 resets the strategy's state (as Reset does) and
// returns at once; with work == 0 it waits by its own rule, escalating if
// it has state. Implementations are used by one goroutine and allocate
// nothing.
type Idler interface {
	Idle(work int)
	Reset()
}

// NoOp never waits: the loop burns the CPU at full speed. Lowest latency,
// but without a PAUSE the spin starves an SMT sibling and pays a pipeline
// flush when the awaited store lands. Prefer BusySpin.
type NoOp struct{}

func (NoOp) Idle(int) {}
func (NoOp) Reset()   {}

// BusySpin executes one PAUSE per idle poll (asm.Pause): the CPU stays
// busy, latency stays at the cache-line transfer, and the sibling
// hyperthread keeps its share. The default for pinned spinners.
type BusySpin struct{}

// Idle pauses once when work is 0.
func (BusySpin) Idle(work int) {
	if work == 0 {
		asm.Pause()
	}
}
func (BusySpin) Reset() {}

// Yield calls sched_yield(2) per idle poll: the thread stays runnable but
// lets any other thread on its CPU run first. It keeps its Go P, unlike
// runtime.Gosched, which on a locked thread hands the P off and back
// (docs/go-runtime.md, "Preemption"). Cost: one system call per idle poll.
type Yield struct{}

// Idle yields once when work is 0.
func (Yield) Idle(work int) {
	if work == 0 {
		unix.Syscall(unix.SYS_SCHED_YIELD, 0, 0, 0)
	}
}
func (Yield) Reset() {}

// Park sleeps on its Parker until the producer publishes or Timeout
// passes. Lowest CPU use; every message after an idle period pays a
// futex wake-up: the publisher's FUTEX_WAKE, then the scheduler waking the
// consumer's thread (pingpong -idle park measures it). With a nil Parker
// it sleeps for Timeout.
type Park struct {
	Parker  Parker        // usually the ring being polled
	Timeout time.Duration // longest sleep; ≤ 0 means 1 ms
}

// Idle parks once when work is 0.
func (p *Park) Idle(work int) {
	if work == 0 {
		parkOrSleep(p.Parker, p.Timeout)
	}
}
func (*Park) Reset() {}

func parkOrSleep(pk Parker, d time.Duration) {
	if d <= 0 {
		d = time.Millisecond
	}
	if pk != nil {
		pk.Park(d)
		return
	}
	time.Sleep(d)
}

// Backoff escalates while idle: Spins polls with one PAUSE each, then
// Yields polls with sched_yield, then parks on Parker (or sleeps) for
// MinPark, doubling up to MaxPark. Any work resets it to spinning. The
// zero value spins 10 000 times (10 000 PAUSEs: asm's BenchmarkPause gives
// the cost of one), yields 100 times, then parks from 50 µs up to 1 ms.
type Backoff struct {
	Spins   int           // PAUSE polls before yielding; 0 means 10 000
	Yields  int           // sched_yield polls before parking; 0 means 100
	MinPark time.Duration // first park; 0 means 50 µs
	MaxPark time.Duration // longest park; 0 means 1 ms
	Parker  Parker        // what to park on; nil sleeps instead

	idle int           // idle polls since the last work
	park time.Duration // next park duration
}

// Idle waits once, by the phase the strategy has reached, when work is 0.
func (b *Backoff) Idle(work int) {
	if work > 0 {
		b.Reset()
		return
	}
	spins, yields := b.Spins, b.Yields
	if spins <= 0 {
		spins = 10_000
	}
	if yields <= 0 {
		yields = 100
	}
	b.idle++
	switch {
	case b.idle <= spins:
		asm.Pause()
	case b.idle <= spins+yields:
		unix.Syscall(unix.SYS_SCHED_YIELD, 0, 0, 0)
	default:
		minPark, maxPark := b.MinPark, b.MaxPark
		if minPark <= 0 {
			minPark = 50 * time.Microsecond
		}
		if maxPark < minPark {
			maxPark = max(minPark, time.Millisecond)
		}
		if b.park < minPark {
			b.park = minPark
		}
		parkOrSleep(b.Parker, b.park)
		b.park = min(2*b.park, maxPark)
	}
}

// Reset returns the strategy to its spinning phase.
func (b *Backoff) Reset() { b.idle, b.park = 0, 0 }
