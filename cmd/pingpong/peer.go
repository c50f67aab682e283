package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"sync/atomic"
	"syscall"

	"github.com/spinwire/spinwire/affinity"
	"golang.org/x/sys/unix"
)

// The peer is this binary re-executed with peerEnv set to the JSON of a
// peerSpec; its transport files arrive as fds 3, 4, …, and the write end
// of a report pipe after them.
const peerEnv = "PINGPONG_PEER"

type peerSpec struct {
	Transport string  `json:"transport"`
	Config    *config `json:"config"`
	Files     int     `json:"files"`
}

// peerReport is what the peer writes to the report pipe, one JSON line
// each time: {"ready":true} when its serving thread is set up and about
// to serve (so no round times the peer's start-up), then, when it is
// done, the CPU that thread ran on at the start and at the end and, for a
// stream, how many of its polls took something.
type peerReport struct {
	Ready    bool   `json:"ready,omitempty"`
	CPUStart int    `json:"cpu_start"`
	CPUEnd   int    `json:"cpu_end"`
	Drains   uint64 `json:"drains,omitempty"` // throughput: polls that took something (peerDrains)
}

// startPeer runs the peer for transport t with files. The peer is killed
// by the kernel if this process dies (PR_SET_PDEATHSIG from the main
// thread, which init locks, so the signal is never sent early). report
// is the read end of the peer's report pipe.
func startPeer(name string, c *config, files []*os.File) (cmd *exec.Cmd, report *os.File, err error) {
	spec, err := json.Marshal(peerSpec{Transport: name, Config: c, Files: len(files)})
	if err != nil {
		return nil, nil, err
	}
	self, err := os.Executable()
	if err != nil {
		return nil, nil, err
	}
	r, w, err := os.Pipe()
	if err != nil {
		return nil, nil, err
	}
	defer w.Close()
	cmd = exec.Command(self)
	cmd.Env = append(os.Environ(), peerEnv+"="+string(spec))
	cmd.ExtraFiles = append(append([]*os.File(nil), files...), w)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		r.Close()
		return nil, nil, fmt.Errorf("start peer: %w", err)
	}
	return cmd, r, nil
}

// reportReader reads the peer's report lines.
type reportReader struct{ dec *json.Decoder }

func newReportReader(r *os.File) *reportReader { return &reportReader{json.NewDecoder(r)} }

// next reads the next line; ok is false if the peer wrote none (it
// exited).
func (r *reportReader) next() (peerReport, bool) {
	var rep peerReport
	err := r.dec.Decode(&rep)
	return rep, err == nil
}

// peerMain is main in the peer process.
func peerMain() int {
	var spec peerSpec
	if err := json.Unmarshal([]byte(os.Getenv(peerEnv)), &spec); err != nil || spec.Config == nil {
		fmt.Fprintln(os.Stderr, "pingpong peer: bad", peerEnv, err)
		return 2
	}
	t, ok := transports[spec.Transport]
	if !ok || spec.Files < 0 || spec.Files > 16 {
		fmt.Fprintln(os.Stderr, "pingpong peer: bad transport", strconv.Quote(spec.Transport))
		return 2
	}
	setupRuntime(spec.Config)
	files := make([]*os.File, spec.Files)
	for i := range files {
		files[i] = os.NewFile(uintptr(3+i), "peer-"+strconv.Itoa(i))
	}
	report := os.NewFile(uintptr(3+spec.Files), "peer-report")
	enc := json.NewEncoder(report)
	peerCPU.ready = func() { enc.Encode(peerReport{Ready: true}) }
	if err := t.serve(spec.Config, files); err != nil {
		fmt.Fprintf(os.Stderr, "pingpong peer %s: %v\n", spec.Transport, err)
		return 1
	}
	enc.Encode(peerCPU.report())
	report.Close()
	return 0
}

// pinPeer pins the calling goroutine's thread to the peer's CPU; a
// negative CPU (in-process tests) leaves it where it is.
func pinPeer(c *config) error {
	if c.CPUs[1] < 0 {
		return nil
	}
	_, err := affinity.Pin(c.CPUs[1])
	return err
}

// cpuCheck records the CPU a serving thread found itself on when it
// started and when it finished (getcpu(2), outside any timed path).
type cpuCheck struct {
	start, end atomic.Int64
	ready      func() // called at the first see: the peer is serving
}

// peerCPU is the peer process's check; serve implementations call see at
// their start and end, on the thread that serves.
var peerCPU = newCPUCheck()

// peerDrains is the stream consumer's count of polls that took at least
// one message, stored once when it acknowledges the stream.
var peerDrains atomic.Uint64

func newCPUCheck() *cpuCheck {
	c := &cpuCheck{}
	c.start.Store(-1)
	c.end.Store(-1)
	return c
}

// see records the current CPU as the start (first call) and the end.
func (c *cpuCheck) see() {
	cpu := int64(affinity.CurrentCPU())
	c.end.Store(cpu)
	if c.start.CompareAndSwap(-1, cpu) && c.ready != nil {
		c.ready()
	}
}

func (c *cpuCheck) report() peerReport {
	return peerReport{CPUStart: int(c.start.Load()), CPUEnd: int(c.end.Load()), Drains: peerDrains.Load()}
}

// pinProcess confines every thread of this process to cpu (the threads the
// runtime makes later are cloned from its template thread, which is one
// of them) and returns the undo, which restores each thread's mask and
// gives threads born meanwhile the process's first mask. A negative cpu
// does nothing. For transports that run on ordinary goroutines.
func pinProcess(cpu int) (undo func(), err error) {
	if cpu < 0 {
		return func() {}, nil
	}
	saved := map[int]unix.CPUSet{}
	var one unix.CPUSet
	one.Set(cpu)
	var first unix.CPUSet
	if err := unix.SchedGetaffinity(os.Getpid(), &first); err != nil {
		return nil, err
	}
	undo = func() {
		for tid, m := range saved {
			unix.SchedSetaffinity(tid, &m)
		}
		for _, tid := range tasks() {
			if _, ok := saved[tid]; !ok {
				unix.SchedSetaffinity(tid, &first)
			}
		}
	}
	// Twice over: a thread cloned while the first pass ran is caught by
	// the second.
	for range 2 {
		for _, tid := range tasks() {
			if _, ok := saved[tid]; ok {
				continue
			}
			var m unix.CPUSet
			if unix.SchedGetaffinity(tid, &m) != nil {
				continue // the thread has exited
			}
			if !m.IsSet(cpu) {
				undo()
				return nil, fmt.Errorf("CPU %d is not in thread %d's allowed set", cpu, tid)
			}
			saved[tid] = m
			if err := unix.SchedSetaffinity(tid, &one); err != nil && err != unix.ESRCH {
				undo()
				return nil, fmt.Errorf("sched_setaffinity(%d, cpu %d): %w", tid, cpu, err)
			}
		}
	}
	return undo, nil
}

// tasks lists this process's thread IDs.
func tasks() []int {
	ents, _ := os.ReadDir("/proc/self/task")
	var out []int
	for _, e := range ents {
		if tid, err := strconv.Atoi(e.Name()); err == nil {
			out = append(out, tid)
		}
	}
	return out
}
