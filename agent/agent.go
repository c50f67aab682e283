package agent

import (
	"context"
	"runtime"
	"runtime/debug"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spinwire/spinwire/affinity"
	"github.com/spinwire/spinwire/internal/msg"
	"github.com/spinwire/spinwire/spin"
)

// Mode is how an Agent's loop lives with the Go runtime. docs/go-runtime.md
// ("Preemption") explains the runtime behaviour behind both.
type Mode int

const (
	// Preemptible (the default) calls a preemption point at least every
	// PreemptEvery iterations, so the GC and everything else that stops the
	// world keep working. Price: after every 10 ms of continuous spinning
	// the runtime's sysmon asks for preemption, and at its next preemption
	// point the locked thread hands its P off and gets it back through the
	// scheduler — one stall of two futex wake-ups.
	Preemptible Mode = iota
	// Dedicated runs a loop without preemption points. It refuses to start
	// unless the process was started with GODEBUG=asyncpreemptoff=1, the GC
	// is off (GOGC=off or debug.SetGCPercent(-1)) and GOMAXPROCS leaves two
	// Ps beyond the dedicated spinners. Anything that must stop the world
	// (runtime.ReadMemStats, GOMAXPROCS(n), a profile) must run inside
	// Quiesce, which parks the dedicated agents first. For the best tails
	// keep duty and the idler small leaf functions: a function prologue is
	// where a pending preemption request fires.
	Dedicated
)

func (m Mode) String() string {
	if m == Dedicated {
		return "dedicated"
	}
	return "preemptible"
}

// PreemptEvery is the largest number of loop iterations a Preemptible agent
// runs between two preemption points.
const PreemptEvery = 256

// AgentStats are an Agent's counters, published every PreemptEvery
// iterations and when Run returns.
type AgentStats struct {
	Iterations uint64 // duty calls
	Work       uint64 // sum of what duty returned
	Idles      uint64 // duty calls that returned 0 (each followed by Idle(0))
}

// count adds one duty call that did w units of work (0: an idle call).
func (st *AgentStats) count(w int) {
	if w > 0 {
		st.Work += uint64(w)
	} else {
		st.Idles++
	}
}

// Agent runs a duty function in a loop on a locked, pinned OS thread.
// Configure its fields before Run; read Stats at any time.
type Agent struct {
	Name string                           // for messages
	Mode Mode                             // Preemptible or Dedicated
	Logf func(format string, args ...any) // warnings; nil: one line on standard error

	running    atomic.Bool
	iterations atomic.Uint64
	work       atomic.Uint64
	idles      atomic.Uint64
	cpu        atomic.Int64
}

// Stats returns the counters as last published.
func (a *Agent) Stats() AgentStats {
	return AgentStats{a.iterations.Load(), a.work.Load(), a.idles.Load()}
}

// CPU returns the CPU the agent is pinned to, or -1.
func (a *Agent) CPU() int { return int(a.cpu.Load()) }

// dedicatedAgents counts running Dedicated agents (for the GOMAXPROCS rule
// and Quiesce).
var dedicatedAgents atomic.Int32

// Run locks the calling goroutine to its thread, pins the thread to cpu
// (cpu < 0: lock but do not pin) — logging once per process, through Logf,
// when the CPU is not isolated or shares a physical core with another
// agent (tuning.Check gives the fix) — and loops: w := duty(); idler.Idle(w);
// until ctx is done. It returns nil when ctx ends the loop, an error
// wrapping ErrPanic when duty (or the idler) panics, or an error when
// setup fails (ErrDedicated says which precondition of the Dedicated mode
// does not hold). The thread is never unlocked: when Run returns the
// goroutine should exit, which ends the pinned thread.
//
// Cost per iteration beyond duty and Idle: a counter add and a predictable
// branch; every PreemptEvery iterations, three atomic stores, a
// non-blocking receive from ctx.Done() and (Preemptible) a call that is a
// preemption point. Run returns within PreemptEvery iterations of ctx's end.
func (a *Agent) Run(ctx context.Context, cpu int, idler spin.Idler, duty func() int) (err error) {
	if idler == nil || duty == nil {
		return msg.Errorf("agent: %q: nil idler or duty", a.Name)
	}
	if !a.running.CompareAndSwap(false, true) {
		return msg.Errorf("%w: %q", ErrRunning, a.Name)
	}
	defer a.running.Store(false)
	if ctx.Err() != nil {
		return msg.Errorf("%w: %q: %v", ErrStopped, a.Name, ctx.Err())
	}
	if a.Mode == Dedicated {
		if err := claimDedicated(); err != nil {
			return msg.Errorf("%w: %q: %v", ErrDedicated, a.Name, err)
		}
		defer dedicatedAgents.Add(-1)
	}
	runtime.LockOSThread() // never unlocked: see the doc comment.
	a.cpu.Store(-1)
	if cpu >= 0 {
		if err := affinity.PinThread(cpu); err != nil {
			return msg.Errorf("agent: %q: %w", a.Name, err)
		}
		a.cpu.Store(int64(cpu))
		pinnedAgents.add(cpu)
		defer pinnedAgents.remove(cpu)
		a.warnCPU(cpu)
	}
	// Nothing from here on allocates (nor does the set-up above, on its
	// success paths): a dedicated spinner never gives back the partly used
	// 8 KiB heap span that each size class it allocates in takes on its P.
	// So ctx.Done is polled, not watched with context.AfterFunc (four
	// objects), the CPU is pinned with affinity.PinThread (no undo, masks on
	// the stack) and the placement warning reads sysfs with raw syscalls
	// into static buffers (warn.go). ctx.Done itself allocates a cancelable
	// context's channel the first time it is called: callers that care
	// call it before Run (link.Serve does).
	done := ctx.Done()
	var st AgentStats
	defer func() {
		a.publish(&st)
		if r := recover(); r != nil {
			err = msg.Errorf("%w: %q: %v\n%s", ErrPanic, a.Name, r, debug.Stack())
		}
	}()
	if a.Mode == Dedicated {
		dedicatedLoop(done, &st, idler, duty, a)
	} else {
		preemptibleLoop(done, &st, idler, duty, a)
	}
	return nil
}

func (a *Agent) publish(st *AgentStats) {
	a.iterations.Store(st.Iterations)
	a.work.Store(st.Work)
	a.idles.Store(st.Idles)
}

// preemptibleLoop runs duty in blocks of PreemptEvery iterations with a
// preemption point between blocks.
func preemptibleLoop(done <-chan struct{}, st *AgentStats, idler spin.Idler, duty func() int, a *Agent) {
	for !closed(done) {
		for range PreemptEvery {
			w := duty()
			st.count(w)
			idler.Idle(w)
		}
		st.Iterations += PreemptEvery
		a.publish(st)
		preemptPoint()
	}
}

// preemptPoint is a deliberate preemption point: a non-inlined, non-leaf
// function, so its prologue compares SP with the goroutine's stack guard
// and honours a pending preemption request there.
//
//go:noinline
func preemptPoint() { preemptSink(0) }

//go:noinline
func preemptSink(int) {}

// dedicatedLoop runs duty with no preemption point of its own; it checks the
// quiesce word every iteration (a load of a line no one writes in steady
// state) and ctx every PreemptEvery iterations.
func dedicatedLoop(done <-chan struct{}, st *AgentStats, idler spin.Idler, duty func() int, a *Agent) {
	for n := 0; ; n++ {
		if quiesceWord.Load() != 0 {
			a.publish(st)
			quiesceWait()
		}
		w := duty()
		st.count(w)
		idler.Idle(w)
		st.Iterations++
		if n&(PreemptEvery-1) == 0 {
			a.publish(st)
			if closed(done) {
				return
			}
		}
	}
}

// closed reports whether done is closed: a non-blocking receive, which on an
// open, empty channel is one atomic load and takes no lock. A nil done
// (context.Background) is never closed.
func closed(done <-chan struct{}) bool {
	select {
	case <-done:
		return true
	default:
		return false
	}
}

// Quiesce machinery: a word every dedicated agent polls, a count of the
// agents parked on it, and a channel that releases them.
var (
	quiesceCall    sync.Mutex // held through a Quiesce: one at a time
	quiesceMu      sync.Mutex
	quiesceWord    atomic.Uint32
	quiesceParked  atomic.Int32
	quiesceRelease = make(chan struct{})
)

// quiesceWait parks a dedicated agent until Quiesce releases it. Blocking on
// a channel parks the goroutine, so the world can stop.
func quiesceWait() {
	quiesceMu.Lock()             // serialise with Quiesce's swap of the channel
	if quiesceWord.Load() == 0 { // released before we got here
		quiesceMu.Unlock()
		return
	}
	ch := quiesceRelease
	quiesceMu.Unlock()
	quiesceParked.Add(1)
	<-ch
	quiesceParked.Add(-1)
}

// Quiesce asks every running Dedicated agent to park, waits until they have
// (at most timeout), runs fn — which may stop the world — and releases
// them. Agents that do not park in time make Quiesce return an error
// without running fn. Preemptible agents are not affected. Quiesce calls
// are serialised.
func Quiesce(timeout time.Duration, fn func()) error {
	// One at a time: the first to end would release the agents while the
	// other's fn ran (and a stop of the world then waits for good on a
	// dedicated spinner, which has no preemption point).
	quiesceCall.Lock()
	defer quiesceCall.Unlock()
	quiesceMu.Lock()
	// SYNC: the word tells agents to park; they observe it in dedicatedLoop.
	quiesceWord.Store(1)
	ch := quiesceRelease
	quiesceMu.Unlock()
	defer func() {
		quiesceMu.Lock()
		quiesceWord.Store(0)
		quiesceRelease = make(chan struct{})
		close(ch)
		quiesceMu.Unlock()
	}()
	deadline := time.Now().Add(timeout)
	for quiesceParked.Load() < dedicatedAgents.Load() {
		if time.Now().After(deadline) {
			return msg.Errorf("agent: quiesce: %d of %d dedicated agents parked within %v", quiesceParked.Load(), dedicatedAgents.Load(), timeout)
		}
		time.Sleep(20 * time.Microsecond)
	}
	fn()
	return nil
}

// claimDedicated counts one more running Dedicated agent if the
// preconditions hold for one more. The check and the count are one step
// (a compare-and-swap, retried only when another agent's start or end
// changed the count in between), so agents started together cannot all
// pass the GOMAXPROCS rule on the same count.
func claimDedicated() error {
	for {
		n := dedicatedAgents.Load()
		if err := dedicatedReady(int(n) + 1); err != nil {
			return err
		}
		if dedicatedAgents.CompareAndSwap(n, n+1) {
			return nil
		}
	}
}

// dedicatedReady checks the preconditions of the Dedicated mode for n
// dedicated agents.
func dedicatedReady(n int) error {
	if !AsyncPreemptOff() {
		return msg.Errorf("the process was not started with GODEBUG=asyncpreemptoff=1 (the //go:debug directive cannot set it; re-execute with the variable set)")
	}
	if GCPercent() >= 0 {
		return msg.Errorf("the GC is on (GOGC=%d): set GOGC=off or debug.SetGCPercent(-1), with debug.SetMemoryLimit as a guard", GCPercent())
	}
	if p := runtime.GOMAXPROCS(0); p < n+2 {
		return msg.Errorf("GOMAXPROCS=%d, need at least %d for %d dedicated agents (spinners + 2)", p, n+2, n)
	}
	return nil
}

// GCPercent returns the GC's target percentage (GOGC), -1 when it is off.
//
// Go reads it back only through runtime/metrics, whose first read builds a
// table of every metric (heap objects in a dozen size classes, and the
// package's code in the binary; TestServerBinaryIsLean keeps
// runtime/metrics out of the echo server). This sets it to -1 and back
// instead, which does not stop the world either.
// Cost: two calls that take the heap lock; while a GC cycle is marking the
// first waits for the mark to end. A SetGCPercent from another goroutine
// between the two would be undone: call it at set-up, not from a monitor.
func GCPercent() int {
	p := debug.SetGCPercent(-1)
	debug.SetGCPercent(p)
	return p
}

// pinnedAgents tracks the CPUs of this process's running agents, so an
// agent can warn when it shares a physical core with another.
var pinnedAgents = cpuRegistry{cpus: make([]int, 0, 16)}

type cpuRegistry struct {
	mu   sync.Mutex
	cpus []int
}

// add records cpu; remove forgets it. The list has room for 16 agents from
// the start: growing it, or returning a closure to undo the add, would
// allocate on the pinned agent's P (see Run).
func (r *cpuRegistry) add(cpu int) {
	r.mu.Lock()
	r.cpus = append(r.cpus, cpu)
	r.mu.Unlock()
}

func (r *cpuRegistry) remove(cpu int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if i := slices.Index(r.cpus, cpu); i >= 0 {
		r.cpus = slices.Delete(r.cpus, i, i+1)
	}
}

// othersInto appends the recorded CPUs other than (one entry of) cpu to
// buf, without growing it: at most cap(buf) of them.
func (r *cpuRegistry) othersInto(cpu int, buf []int) []int {
	r.mu.Lock()
	defer r.mu.Unlock()
	skipped := false
	for _, c := range r.cpus {
		if c == cpu && !skipped {
			skipped = true
			continue
		}
		if len(buf) < cap(buf) {
			buf = append(buf, c)
		}
	}
	return buf
}
