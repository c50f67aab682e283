package tuning

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strconv"
	"strings"

	"github.com/spinwire/spinwire/affinity"
)

// Paths, relative to the FS root ("/").
const (
	cpuDir          = "sys/devices/system/cpu"
	cmdlinePath     = "proc/cmdline"
	onlinePath      = cpuDir + "/online"
	isolatedPath    = cpuDir + "/isolated"
	nohzFullPath    = cpuDir + "/nohz_full"
	cgroupIsolPath  = "sys/fs/cgroup/cpuset.cpus.isolated"
	idleDriverPath  = cpuDir + "/cpuidle/current_driver"
	smtControlPath  = cpuDir + "/smt/control"
	thpPath         = "sys/kernel/mm/transparent_hugepage/enabled"
	clocksourceDir  = "sys/devices/system/clocksource/clocksource0"
	clocksourcePath = clocksourceDir + "/current_clocksource"
	clocksAvailPath = clocksourceDir + "/available_clocksource"
	cpuinfoPath     = "proc/cpuinfo"
	atomCPUsPath    = "sys/devices/cpu_atom/cpus" // efficiency cores of a hybrid processor
	coreCPUsPath    = "sys/devices/cpu_core/cpus" // its performance cores
	irqDir          = "proc/irq"
	irqDefaultPath  = irqDir + "/default_smp_affinity"
	interruptsPath  = "proc/interrupts"
	sysctlDir       = "proc/sys/kernel"
	vmStatPath      = "proc/sys/vm/stat_interval"
	selfCgroupPath  = "proc/self/cgroup"
	cgroupRoot      = "sys/fs/cgroup"
)

// maxFileSize bounds every read: the largest file read here is
// /proc/interrupts, tens of kilobytes on a big host.
const maxFileSize = 4 << 20

// errGarbage marks a file whose content is not what the kernel writes there.
var errGarbage = errors.New("unexpected content")

// fileError says which file a check could not use and why.
type fileError struct {
	path string // relative to the FS root
	err  error
}

func (e *fileError) Error() string {
	switch {
	case errors.Is(e.err, fs.ErrNotExist):
		return "/" + e.path + " not found"
	case errors.Is(e.err, fs.ErrPermission):
		return "/" + e.path + " not readable (permission denied)"
	}
	return "/" + e.path + ": " + e.err.Error()
}

func (e *fileError) Unwrap() error { return e.err }

func garbage(path, content string) error {
	if len(content) > 60 {
		content = content[:60] + "…"
	}
	return &fileError{path, fmt.Errorf("%w %q", errGarbage, content)}
}

func notExist(err error) bool { return errors.Is(err, fs.ErrNotExist) }

// readString reads a small file (at most maxFileSize bytes) and trims
// surrounding white space.
func readString(fsys fs.FS, path string) (string, error) {
	f, err := fsys.Open(path)
	if err != nil {
		return "", &fileError{path, unwrapPathError(err)}
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxFileSize))
	if err != nil {
		return "", &fileError{path, unwrapPathError(err)}
	}
	return strings.TrimSpace(string(b)), nil
}

func unwrapPathError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// readList reads a file in the kernel's cpulist format.
func readList(fsys fs.FS, path string) (affinity.CPUSet, error) {
	s, err := readString(fsys, path)
	if err != nil {
		return nil, err
	}
	set, err := affinity.ParseList(s)
	if err != nil {
		return nil, garbage(path, s)
	}
	return set, nil
}

// readInt reads a file holding one decimal integer.
func readInt(fsys fs.FS, path string) (int64, error) {
	s, err := readString(fsys, path)
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, garbage(path, s)
	}
	return n, nil
}

// cpuPath is the sysfs path of a file of one CPU, e.g. cpuPath(3,
// "cpufreq/scaling_governor").
func cpuPath(cpu int, rel string) string {
	return cpuDir + "/cpu" + strconv.Itoa(cpu) + "/" + rel
}

// cpuDirs lists cpuN directories under /sys/devices/system/cpu: a stand-in
// for the online list when that file is missing or garbage.
func cpuDirs(fsys fs.FS) affinity.CPUSet {
	ents, _ := fs.ReadDir(fsys, cpuDir)
	var set affinity.CPUSet
	for _, e := range ents {
		if n, ok := strings.CutPrefix(e.Name(), "cpu"); ok {
			if c, err := strconv.Atoi(n); err == nil && c >= 0 && c < affinity.MaxCPU {
				set = append(set, c)
			}
		}
	}
	return union(set)
}
