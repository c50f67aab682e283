package affinity

import (
	"io/fs"
	"slices"

	"github.com/spinwire/spinwire/internal/msg"
)

// Cache describes one cache a CPU uses, from cpuN/cache/indexK.
type Cache struct {
	Level    int    // 1, 2, 3
	Type     string // "Data", "Instruction" or "Unified"; "" if unknown
	Size     int    // bytes; 0 if unknown
	LineSize int    // coherency_line_size in bytes; 0 if unknown
	Shared   CPUSet // online CPUs sharing this cache (shared_cpu_list)
}

// CPU describes one online logical CPU.
type CPU struct {
	ID       int     // logical CPU number, as in cpuN
	Package  int     // physical_package_id (socket); 0 if unknown
	Die      int     // die_id within the package; 0 if unknown
	CoreID   int     // core_id as the kernel reports it: unique only within a package (and die), often sparse; -1 if unknown
	Core     int     // physical core, unique across packages: 0…Topo.Cores-1, numbered in order of each core's lowest CPU
	Siblings CPUSet  // online SMT siblings sharing the physical core, this CPU included
	L3       int     // L3 domain, 0…Topo.L3Domains-1, numbered in order of each domain's lowest CPU
	L3CPUs   CPUSet  // online CPUs sharing this CPU's L3 (this CPU included)
	Node     int     // NUMA node; 0 if unknown
	Caches   []Cache // caches listed under cpuN/cache, by index; nil if none
}

// Topo is a snapshot of the host's CPU topology as the kernel exports it in
// sysfs: which logical CPUs share a physical core, an L3 cache, a package
// and a NUMA node, and which CPUs are isolated. It says nothing about the
// processor's model or features (package tuning describes those). Build
// one with Topology (live host) or TopologyFS (any tree, for tests); treat
// it as read-only. A Topo does not follow CPU hotplug: take a new one if
// CPUs come and go.
type Topo struct {
	CPUs      []CPU  // online CPUs, by ascending ID
	Online    CPUSet // IDs of CPUs
	Isolated  CPUSet // online CPUs listed in sys/devices/system/cpu/isolated (isolcpus=)
	NohzFull  CPUSet // online CPUs listed in sys/devices/system/cpu/nohz_full (nohz_full=)
	Packages  int    // distinct packages
	Cores     int    // physical cores
	L3Domains int    // L3 domains (one per package when the tree lists no L3)
	Nodes     int    // NUMA nodes with online CPUs (1 when unknown)
	CacheLine int    // bytes: coherency_line_size of the first CPU's first cache, else 64

	// Unknown names the facts the tree did not provide and that were given
	// defaults, sorted:
	//   "online"        no online file: CPUs taken from the cpuN directories
	//   "package"       no physical_package_id for some CPU: package 0
	//   "die"           no die_id for some CPU: die 0
	//   "core"          neither core_cpus_list, thread_siblings_list nor
	//                   core_id for some CPU: it is its own physical core
	//   "cache"         no cache directory for some CPU: Caches is nil
	//   "l3"            no L3 listed for some CPU: its L3 domain is its package
	//   "numa"          no node directory, or a CPU in no node: node 0
	//   "isolated"      no isolated file: none isolated
	//   "nohz_full"     no nohz_full file (kernel without CONFIG_NO_HZ_FULL): none
	//   "cache_line"    no line size for the first CPU's first cache: CacheLine 64
	Unknown []string
}

// Topology returns the topology of the running host, read from
// /sys/devices/system/cpu and /sys/devices/system/node. Cost: about 30
// small file reads per online CPU, each an open, a read and a close: call
// it once at setup.
func Topology() (*Topo, error) { return TopologyFS(hostFS()) }

// TopologyFS builds a Topo from the tree fsys, rooted at "/". It reads
// sys/devices/system/cpu/{online,isolated,nohz_full},
// cpuN/topology/{physical_package_id,die_id,core_id,core_cpus_list,
// thread_siblings_list}, cpuN/cache/indexK/{level,type,size,
// coherency_line_size,shared_cpu_list} and
// sys/devices/system/node/nodeN/cpulist. Missing files degrade to the
// defaults listed under Topo.Unknown; a file whose content cannot be parsed
// is an error wrapping ErrTopology (and ErrCPUList for a bad cpulist) that
// names the file.
func TopologyFS(fsys fs.FS) (*Topo, error) {
	if fsys == nil {
		return nil, msg.Errorf("%w: nil fs.FS", ErrTopology)
	}
	b := builder{fsys: fsys, unknown: map[string]bool{}}
	return b.build()
}

// CPU returns the description of cpu. A cpu outside [0, MaxCPU) gives an
// error wrapping ErrInvalidCPU, one the Topo does not describe (offline)
// ErrUnknownCPU; both name the cpu. Cost: binary search.
func (t *Topo) CPU(cpu int) (CPU, error) {
	if cpu < 0 || cpu >= MaxCPU {
		return CPU{}, msg.Errorf("%w: cpu=%d (want 0…%d)", ErrInvalidCPU, cpu, MaxCPU-1)
	}
	if c := t.lookup(cpu); c != nil {
		return *c, nil
	}
	return CPU{}, msg.Errorf("%w: cpu=%d (online %s)", ErrUnknownCPU, cpu, t.onlineString())
}

func (t *Topo) onlineString() string {
	if t == nil {
		return "none: nil Topo"
	}
	return t.Online.String()
}

func (t *Topo) lookup(cpu int) *CPU {
	if t == nil {
		return nil
	}
	i, ok := slices.BinarySearchFunc(t.CPUs, cpu, func(c CPU, id int) int { return c.ID - id })
	if !ok {
		return nil
	}
	return &t.CPUs[i]
}

// SameCore reports whether a and b are SMT siblings on one physical core
// (true for a == b when a is online). It is false for CPUs the Topo does not
// describe. Cost: two binary searches.
func (t *Topo) SameCore(a, b int) bool {
	ca, cb := t.lookup(a), t.lookup(b)
	return ca != nil && cb != nil && ca.Core == cb.Core
}

// SameL3 reports whether a and b share an L3 domain (true for a == b when a
// is online). It is false for CPUs the Topo does not describe. Cost: two
// binary searches.
func (t *Topo) SameL3(a, b int) bool {
	ca, cb := t.lookup(a), t.lookup(b)
	return ca != nil && cb != nil && ca.L3 == cb.L3
}

// IsIsolated reports whether cpu is online and isolated from ordinary work:
// listed in isolated (isolcpus=) or nohz_full (nohz_full=), the CPUs that
// Housekeeping leaves out. It is false for CPUs the Topo does not describe.
// Cost: two binary searches.
func (t *Topo) IsIsolated(cpu int) bool {
	return t != nil && (t.Isolated.Contains(cpu) || t.NohzFull.Contains(cpu))
}

// Housekeeping returns the online CPUs that are neither isolated nor
// nohz_full, or all online CPUs if that leaves none. It allocates a new set.
func (t *Topo) Housekeeping() CPUSet {
	if t == nil {
		return nil
	}
	return housekeeping(t.Online, t.Isolated, t.NohzFull)
}
