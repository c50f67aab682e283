package agent

import (
	"os"
	"strconv"
	"strings"
	"sync"
	"unsafe"

	"github.com/spinwire/spinwire/affinity"
	"golang.org/x/sys/unix"
)

// The placement warning: the line an Agent logs when it pins itself to a CPU
// while this process's other agents run on others, if the CPU is not
// isolated (isolcpus= or a cgroup isolated partition), or it shares a
// physical core with another agent — the facts of affinity.PlacementFS.
//
// The IDs in brackets are tuning's finding IDs; tuning.Check (pingpong
// -check) gives the exact fix for the host. agent does not import tuning:
// its report code would be linked into, and resident in, every spinning
// process.
//
// The check runs on the spinner's goroutine, before it spins, and
// allocates nothing: a dedicated spinner's P never gives back the partly
// used 8 KiB heap span that each size class allocated in takes there
// (docs/go-runtime.md, "Heap spans on a spinner's P"), and reading sysfs
// through os.DirFS would allocate a dozen objects and link the fs.FS code.
// So it reads sysfs with raw syscalls into the package's buffers, tests
// membership in the kernel's cpulist text without building sets
// (affinity.ListContains), and writes the line into a buffer of its own.
// It runs once per process (warnOnce); tests call it one at a time.

// readFunc reads the file at path (absolute) into buf, reporting the
// bytes read and whether the file could be read at all.
type readFunc func(path string, buf []byte) (n int, ok bool)

// Paths the check reads: as in affinity (PlacementFS, SiblingsFS).
const (
	isolatedPath       = "/sys/devices/system/cpu/isolated"
	cgroupIsolatedPath = "/sys/fs/cgroup/cpuset.cpus.isolated"
	cpuDir             = "/sys/devices/system/cpu/cpu"
)

// The check's buffers: in the binary's bss, not the heap.
var (
	warnFile   [4096]byte // one sysfs file
	warnPath   [128]byte  // a path, NUL-terminated for openat
	warnOthers [16]int    // the other agents' CPUs (pinnedAgents holds 16)
	warnShared [16]int    // those on cpu's core
	warnLine   line
)

// line is a built warning. Logf gets a *line, which prints as its text
// (String), so handing it over allocates nothing either.
type line struct {
	b [512]byte
	n int
}

func (l *line) String() string { return string(l.b[:l.n]) }

func (l *line) add(s string) {
	l.n += copy(l.b[l.n:], s)
}

func (l *line) addInt(v int) {
	var d [20]byte
	l.add(unsafe.String(&d[0], len(strconv.AppendInt(d[:0], int64(v), 10))))
}

// cpuWarning builds the warning for cpu and the other spinners' CPUs into
// warnLine, reading through read, and reports whether there is one. It
// warns of nothing it cannot read.
func cpuWarning(read readFunc, cpu int, others []int) bool {
	notIsolated := false
	if n, ok := read(isolatedPath, warnFile[:]); ok {
		if in, ok := inList(warnFile[:n], cpu); ok && !in {
			notIsolated = true
			if n, ok := read(cgroupIsolatedPath, warnFile[:]); ok {
				if in, ok := inList(warnFile[:n], cpu); ok && in {
					notIsolated = false
				}
			}
		}
	}
	// The other spinners on cpu's physical core: its SMT siblings, from
	// core_cpus_list (Linux ≥ 5.3), else thread_siblings_list.
	shared := warnShared[:0]
	for _, name := range [...]string{"/topology/core_cpus_list", "/topology/thread_siblings_list"} {
		p := warnPath[:0]
		p = append(p, cpuDir...)
		p = strconv.AppendInt(p, int64(cpu), 10)
		p = append(p, name...)
		n, ok := read(unsafe.String(&p[0], len(p)), warnFile[:])
		if !ok {
			continue
		}
		for _, o := range others {
			if in, ok := inList(warnFile[:n], o); ok && in && o != cpu && len(shared) < len(warnShared) {
				shared = insertSorted(shared, o)
			}
		}
		break
	}
	if !notIsolated && len(shared) == 0 {
		return false
	}
	l := &warnLine
	l.n = 0
	l.add("spinwire: ")
	if notIsolated {
		l.add("spinner CPU ")
		l.addInt(cpu)
		l.add(" is not isolated: the scheduler will run other tasks there [isolcpus]")
	}
	if len(shared) > 0 {
		if notIsolated {
			l.add("; ")
		}
		l.add("spinner CPU ")
		l.addInt(cpu)
		l.add(" shares a physical core with spinner CPU ")
		for i, o := range shared {
			if i > 0 {
				l.add(",")
			}
			l.addInt(o)
		}
		l.add(" [smt-shared-core]")
	}
	l.add("; run pingpong -check for this host's fixes")
	return true
}

// insertSorted inserts v into the sorted s (room permitting), once.
func insertSorted(s []int, v int) []int {
	i := 0
	for i < len(s) && s[i] < v {
		i++
	}
	if i < len(s) && s[i] == v {
		return s
	}
	s = s[:len(s)+1]
	copy(s[i+1:], s[i:])
	s[i] = v
	return s
}

// inList reports whether cpu is in the kernel cpulist text b; ok is false
// when b is not a cpulist. "(null)" is the empty set, as affinity reads it
// (some kernels print it for an unset nohz_full). The list is parsed by
// affinity.ListContains, without building the set: no allocation.
func inList(b []byte, cpu int) (in, ok bool) {
	s := strings.TrimSpace(unsafe.String(unsafe.SliceData(b), len(b)))
	if s == "(null)" {
		return false, true
	}
	in, err := affinity.ListContains(s, cpu)
	return in, err == nil
}

// readHost is readFunc for the live host: openat, read, close, as raw
// syscalls, with the path copied NUL-terminated into warnPath when it is
// not there already. No allocation.
func readHost(path string, buf []byte) (int, bool) {
	if len(path) >= len(warnPath) {
		return 0, false
	}
	if unsafe.StringData(path) != &warnPath[0] {
		copy(warnPath[:], path)
	}
	warnPath[len(path)] = 0
	cwd := unix.AT_FDCWD // absolute paths: ignored
	fd, _, e := unix.Syscall6(unix.SYS_OPENAT, uintptr(cwd), uintptr(unsafe.Pointer(&warnPath[0])),
		uintptr(unix.O_RDONLY|unix.O_CLOEXEC), 0, 0, 0)
	if e != 0 {
		return 0, false
	}
	defer unix.Syscall(unix.SYS_CLOSE, fd, 0, 0)
	n := 0
	for n < len(buf) {
		r, _, e := unix.Syscall(unix.SYS_READ, fd, uintptr(unsafe.Pointer(&buf[n])), uintptr(len(buf)-n))
		if e == unix.EINTR {
			continue
		}
		if e != 0 {
			return 0, false
		}
		if r == 0 {
			return n, true
		}
		n += int(r)
	}
	return 0, false // longer than any cpulist we read: not one
}

// warnOnce makes the first pinned Agent of a process decide whether the
// process logs a warning about its CPUs.
var warnOnce sync.Once

// warnCPU logs the placement warning for the live host and the CPUs of
// this process's other pinned agents through a.Logf, at most once per
// process: later calls, from any agent and for any CPU, cost one atomic
// load and log nothing. It allocates nothing, unless Logf itself does.
func (a *Agent) warnCPU(cpu int) {
	warnOnce.Do(func() {
		if cpuWarning(readHost, cpu, pinnedAgents.othersInto(cpu, warnOthers[:0])) {
			a.warn(&warnLine)
		}
	})
}

// warn writes one line through Logf (as "%s" of l), or to standard error
// when Logf is nil.
func (a *Agent) warn(l *line) {
	if a.Logf != nil {
		a.Logf("%s", l)
		return
	}
	if l.n < len(l.b) {
		l.b[l.n] = '\n'
		os.Stderr.Write(l.b[:l.n+1])
		return
	}
	os.Stderr.Write(l.b[:l.n])
}
