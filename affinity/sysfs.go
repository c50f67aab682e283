package affinity

import (
	"errors"
	"io"
	"io/fs"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/spinwire/spinwire/internal/msg"
)

// Paths inside an fs.FS rooted at "/".
const (
	sysCPU  = "sys/devices/system/cpu"
	sysNode = "sys/devices/system/node"
)

// maxFileLength bounds what is read from one sysfs file. The longest
// legitimate one is a cpulist naming every other CPU of 8192, about 20 KiB.
const maxFileLength = 64 << 10

// hostFS returns the live root; every *FS function reads through an fs.FS
// so tests can run against fixture trees. A function, not a variable: a
// variable's initialiser would link os.DirFS, and with fs.FS the time
// formatting code its FileInfo reaches, into every binary that imports
// affinity, used or not.
func hostFS() fs.FS { return os.DirFS("/") }

// readFile returns the trimmed content of name; ok is false when the file
// does not exist (a missing file is a fact to default, not an error).
func readFile(fsys fs.FS, name string) (s string, ok bool, err error) {
	f, err := fsys.Open(name)
	if errors.Is(err, fs.ErrNotExist) {
		return "", false, nil
	}
	if err != nil {
		return "", false, msg.Errorf("%w: %s: %w", ErrTopology, name, err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxFileLength+1))
	if err != nil {
		return "", false, msg.Errorf("%w: %s: %w", ErrTopology, name, err)
	}
	if len(b) > maxFileLength {
		return "", false, msg.Errorf("%w: %s: longer than %d bytes", ErrTopology, name, maxFileLength)
	}
	return strings.TrimSpace(string(b)), true, nil
}

// readList reads a cpulist file. "(null)" is what some kernels print for
// nohz_full when no nohz_full= was given (the mask was never allocated); it
// means the empty set.
func readList(fsys fs.FS, name string) (CPUSet, bool, error) {
	s, ok, err := readFile(fsys, name)
	if !ok || err != nil {
		return nil, ok, err
	}
	if s == "(null)" {
		return nil, true, nil
	}
	set, err := ParseList(s)
	if err != nil {
		return nil, true, msg.Errorf("%w: %s: %w", ErrTopology, name, err)
	}
	return set, true, nil
}

// readInt reads a decimal integer file. Negative values (some arm64 kernels
// report physical_package_id -1) count as unknown: ok is false.
func readInt(fsys fs.FS, name string) (int, bool, error) {
	s, ok, err := readFile(fsys, name)
	if !ok || err != nil {
		return 0, false, err
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, false, msg.Errorf("%w: %s: %q is not an integer", ErrTopology, name, s)
	}
	if n < 0 {
		return 0, false, nil
	}
	return n, true, nil
}

// readSize reads a cache size file: "48K", "2048K", "32M" or plain bytes.
func readSize(fsys fs.FS, name string) (int, bool, error) {
	s, ok, err := readFile(fsys, name)
	if !ok || err != nil {
		return 0, false, err
	}
	mult := 1
	num := s
	switch {
	case strings.HasSuffix(s, "K"):
		mult, num = 1<<10, s[:len(s)-1]
	case strings.HasSuffix(s, "M"):
		mult, num = 1<<20, s[:len(s)-1]
	case strings.HasSuffix(s, "G"):
		mult, num = 1<<30, s[:len(s)-1]
	}
	n, err := parseUint(num, math.MaxInt32/mult) // ≤ 2 GiB: no cache is larger
	if err != nil {
		return 0, false, msg.Errorf("%w: %s: %q is not a size", ErrTopology, name, s)
	}
	return n * mult, true, nil
}

// numbered lists the entries of dir named prefix<N>, by ascending N.
// ok is false when dir does not exist.
func numbered(fsys fs.FS, dir, prefix string) ([]int, bool, error) {
	ents, err := fs.ReadDir(fsys, dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, msg.Errorf("%w: %s: %w", ErrTopology, dir, err)
	}
	var out []int
	for _, e := range ents {
		rest, ok := strings.CutPrefix(e.Name(), prefix)
		if !ok {
			continue
		}
		if n, err := parseUint(rest, MaxCPU-1); err == nil {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out, true, nil
}

// onlineFS returns the online CPUs: sys/devices/system/cpu/online, else the
// cpuN directories (fromDirs is then true). No CPU at all is an error.
func onlineFS(fsys fs.FS) (online CPUSet, fromDirs bool, err error) {
	online, ok, err := readList(fsys, sysCPU+"/online")
	if err != nil {
		return nil, false, err
	}
	if !ok {
		ids, _, err := numbered(fsys, sysCPU, "cpu")
		if err != nil {
			return nil, false, err
		}
		online, fromDirs = CPUSet(ids), true
	}
	if len(online) == 0 {
		where := sysCPU + "/online"
		if fromDirs {
			where = sysCPU + "/cpuN"
		}
		return nil, fromDirs, msg.Errorf("%w: no online cpus in %s", ErrTopology, where)
	}
	return online, fromDirs, nil
}

// Isolated returns the CPUs the kernel isolated from the scheduler's load
// balancing at boot (isolcpus=, /sys/devices/system/cpu/isolated). A kernel
// without that file gives the empty set. Cost: one file read.
func Isolated() (CPUSet, error) { return IsolatedFS(hostFS()) }

// IsolatedFS is Isolated reading from fsys, which is rooted at "/".
func IsolatedFS(fsys fs.FS) (CPUSet, error) {
	set, _, err := readList(fsys, sysCPU+"/isolated")
	return set, err
}

// NohzFull returns the CPUs that run without the periodic tick when they
// have a single task (nohz_full=, /sys/devices/system/cpu/nohz_full). A
// kernel built without CONFIG_NO_HZ_FULL has no such file, and some print
// "(null)" when the parameter was not given: both give the empty set.
// Cost: one file read.
func NohzFull() (CPUSet, error) { return NohzFullFS(hostFS()) }

// NohzFullFS is NohzFull reading from fsys, which is rooted at "/".
func NohzFullFS(fsys fs.FS) (CPUSet, error) {
	set, _, err := readList(fsys, sysCPU+"/nohz_full")
	return set, err
}

// Housekeeping returns the CPUs left for everything that is not a spinner:
// online minus isolated minus nohz_full, or all online CPUs if that leaves
// none (the kernel keeps at least one housekeeping CPU; this guards against
// a corrupt or foreign tree). Cost: three file reads.
func Housekeeping() (CPUSet, error) { return HousekeepingFS(hostFS()) }

// HousekeepingFS is Housekeeping reading from fsys, which is rooted at "/".
func HousekeepingFS(fsys fs.FS) (CPUSet, error) {
	online, _, err := onlineFS(fsys)
	if err != nil {
		return nil, err
	}
	iso, err := IsolatedFS(fsys)
	if err != nil {
		return nil, err
	}
	nohz, err := NohzFullFS(fsys)
	if err != nil {
		return nil, err
	}
	return housekeeping(online, iso, nohz), nil
}

// SiblingsFS returns the SMT siblings of cpu, cpu included, that share its
// physical core (topology/core_cpus_list, or thread_siblings_list before
// Linux 5.3), reading from fsys, which is rooted at "/". A tree that lists
// neither gives nil. The kernel lists only online CPUs. Cost: one or two
// file reads.
func SiblingsFS(fsys fs.FS, cpu int) (CPUSet, error) {
	set, _, err := siblingsFS(fsys, cpu)
	return set, err
}

// siblingsFS is SiblingsFS; ok is false when neither file exists.
func siblingsFS(fsys fs.FS, cpu int) (set CPUSet, ok bool, err error) {
	dir := sysCPU + "/cpu" + strconv.Itoa(cpu) + "/topology/"
	// core_cpus_list (Linux ≥ 5.3) replaces thread_siblings_list.
	for _, name := range [...]string{"core_cpus_list", "thread_siblings_list"} {
		if set, ok, err = readList(fsys, dir+name); err != nil || ok {
			return set, ok, err
		}
	}
	return nil, false, nil
}

// cgroupIsolated lists the CPUs of cgroup v2 isolated partitions, which
// isolate as isolcpus= does, without a reboot.
const cgroupIsolated = "sys/fs/cgroup/cpuset.cpus.isolated"

// Placement is what the host says about pinning a spinner to one CPU while
// other spinners run on others (see PlacementFS).
type Placement struct {
	// Isolated lists the CPUs isolated from the scheduler: isolcpus=
	// (cpu/isolated) and cgroup v2 isolated partitions. IsolatedKnown is
	// false, and Isolated nil, when the isolated list cannot be read.
	Isolated      CPUSet
	IsolatedKnown bool
	Siblings      CPUSet // the CPU's SMT siblings, itself included (SiblingsFS); nil if unknown
	Shared        CPUSet // the other spinners among Siblings, sorted
}

// PlacementFS reads, from fsys rooted at "/", whether cpu is isolated and
// which of the other spinners share its physical core: the facts behind
// agent.Agent's warning and tuning.SpinnerWarnings. Cost: two to four small
// file reads.
func PlacementFS(fsys fs.FS, cpu int, others []int) Placement {
	var p Placement
	if iso, ok, err := readList(fsys, sysCPU+"/isolated"); ok && err == nil {
		if cg, ok, err := readList(fsys, cgroupIsolated); ok && err == nil {
			iso = iso.Union(cg)
		}
		p.Isolated, p.IsolatedKnown = iso, true
	}
	if sib, err := SiblingsFS(fsys, cpu); err == nil && sib != nil {
		p.Siblings = sib
		for _, o := range others {
			if o != cpu && sib.Contains(o) {
				p.Shared = append(p.Shared, o)
			}
		}
		p.Shared = p.Shared.Normalize()
	}
	return p
}

func housekeeping(online, iso, nohz CPUSet) CPUSet {
	if hk := online.Minus(iso).Minus(nohz); len(hk) > 0 {
		return hk
	}
	return slices.Clone(online)
}
