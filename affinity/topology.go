package affinity

import (
	"bufio"
	"errors"
	"io/fs"
	"slices"
	"strconv"
	"strings"

	"github.com/spinwire/spinwire/internal/msg"
)

// CPUID holds what the cpuid instruction says about the processor. Topology
// fills it with HostCPUID, which decodes the instruction's leaves itself
// (asm.CPUID) and takes feature flags from golang.org/x/sys/cpu; tests pass
// their own. Fields left empty are filled from /proc/cpuinfo when
// TopologyFS finds it (vendor, brand, family, model, stepping).
//
// Features is sorted and spelled as github.com/klauspost/cpuid/v2 spelled
// its features (earlier versions of this package used it): "AVX2",
// "AVX512F", "SSE4" (SSE4.1), "SSE42", "CLMUL", "RDTSCP" on amd64; "ASIMD",
// "ATOMICS", "AESARM" on arm64. HostCPUID takes them from the flags of
// golang.org/x/sys/cpu (X86 or ARM64; AVX and AVX-512 only when the OS
// saves their registers) plus, on amd64, a few CPUID bits x/sys/cpu has no
// flag for (RDTSCP, HYPERVISOR, SSE, CMOV, NX, SHA, GFNI, VAES…). What
// neither gives is not listed, e.g. XSAVEOPT, CLZERO and the
// speculation-control bits that klauspost/cpuid reported.
type CPUID struct {
	Vendor     string   // vendor string: "GenuineIntel", "AuthenticAMD"; "" if unknown
	Brand      string   // brand string, e.g. "AMD Ryzen 7 3700X 8-Core Processor"
	Family     int      // display family (6 for Intel Core/Xeon, 23 Zen 1/2, 25 Zen 3/4)
	Model      int      // display model
	Stepping   int      // stepping
	Hypervisor string   // hypervisor ("KVM", "MSVM", "VMware", or the raw cpuid string); "" on bare metal or unknown
	Features   []string // sorted feature names, see above
	CacheLine  int      // bytes; 0 if unknown
	L1D        int      // L1 data cache, bytes per core; 0 if unknown
	L1I        int      // L1 instruction cache, bytes per core; 0 if unknown
	L2         int      // L2 cache, bytes per core or per sharing cluster; 0 if unknown
	L3         int      // L3 cache, bytes per L3 domain; 0 if unknown
}

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

// Topo is a snapshot of the host's CPU topology: which logical CPUs share a
// physical core, an L3 cache, a package and a NUMA node, which CPUs are
// isolated, and what cpuid says. Build one with Topology (live host) or
// TopologyFS (any tree, for tests); treat it as read-only. A Topo does not
// follow CPU hotplug: take a new one if CPUs come and go.
type Topo struct {
	CPUs      []CPU  // online CPUs, by ascending ID
	Online    CPUSet // IDs of CPUs
	Isolated  CPUSet // online CPUs listed in sys/devices/system/cpu/isolated (isolcpus=)
	NohzFull  CPUSet // online CPUs listed in sys/devices/system/cpu/nohz_full (nohz_full=)
	Packages  int    // distinct packages
	Cores     int    // physical cores
	L3Domains int    // L3 domains (one per package when the tree lists no L3)
	Nodes     int    // NUMA nodes with online CPUs (1 when unknown)
	CacheLine int    // bytes: coherency_line_size of the first CPU's first cache, else CPUID.CacheLine, else 64

	// InvariantTSC reports a TSC that ticks at a constant rate in every
	// P-state and C-state (CPUID leaf 0x80000007 EDX bit 8). The CPUID
	// struct has no field for that bit (asm.InvariantTSC reads it with the
	// instruction), so TopologyFS, a function of its tree and a CPUID,
	// reads it from the x86 flags of /proc/cpuinfo: the kernel sets both
	// "constant_tsc" and "nonstop_tsc" from exactly that bit, and this field
	// is true only when both are present. It is false (and "invariant_tsc"
	// is in Unknown) when /proc/cpuinfo has no flags line, e.g. on arm64.
	InvariantTSC bool

	CPUID CPUID // cpuid facts passed to TopologyFS, blanks filled from /proc/cpuinfo

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
	//   "invariant_tsc" no x86 flags in proc/cpuinfo: InvariantTSC false
	//   "cpuid"         no vendor from cpuid nor from proc/cpuinfo
	//   "cache_line"    no line size anywhere: CacheLine 64
	Unknown []string
}

// Topology returns the topology of the running host, read from
// /sys/devices/system/cpu, /sys/devices/system/node and /proc/cpuinfo plus
// HostCPUID. Cost: about 30 small file reads per online CPU (a few
// milliseconds on a large server): call it once at setup.
func Topology() (*Topo, error) { return TopologyFS(hostFS(), HostCPUID()) }

// TopologyFS builds a Topo from the tree fsys, rooted at "/", and the cpuid
// facts id. It reads sys/devices/system/cpu/{online,isolated,nohz_full},
// cpuN/topology/{physical_package_id,die_id,core_id,core_cpus_list,
// thread_siblings_list}, cpuN/cache/indexK/{level,type,size,
// coherency_line_size,shared_cpu_list}, sys/devices/system/node/nodeN/cpulist
// and proc/cpuinfo. Missing files degrade to the defaults listed under
// Topo.Unknown; a file whose content cannot be parsed is an error wrapping
// ErrTopology (and ErrCPUList for a bad cpulist) that names the file.
func TopologyFS(fsys fs.FS, id CPUID) (*Topo, error) {
	if fsys == nil {
		return nil, msg.Errorf("%w: nil fs.FS", ErrTopology)
	}
	b := builder{fsys: fsys, unknown: map[string]bool{}}
	return b.build(id)
}

type builder struct {
	fsys    fs.FS
	unknown map[string]bool
}

// cpuFacts is what one cpuN directory says, before grouping.
type cpuFacts struct {
	pkg, die, coreID int
	hasCoreID        bool
	siblings         CPUSet // raw core_cpus_list / thread_siblings_list
	hasSiblings      bool
	caches           []Cache
	l3               CPUSet // shared_cpu_list of the level-3 cache
	hasL3            bool
}

func (b *builder) build(id CPUID) (*Topo, error) {
	online, fromDirs, err := onlineFS(b.fsys)
	if err != nil {
		return nil, err
	}
	if fromDirs {
		b.unknown["online"] = true
	}
	t := &Topo{Online: online, CPUs: make([]CPU, len(online))}
	facts := make([]cpuFacts, len(online))
	for i, c := range online {
		if facts[i], err = b.cpu(c, online); err != nil {
			return nil, err
		}
		t.CPUs[i] = CPU{ID: c, Package: facts[i].pkg, Die: facts[i].die, CoreID: -1, Caches: facts[i].caches}
		if facts[i].hasCoreID {
			t.CPUs[i].CoreID = facts[i].coreID
		}
	}
	b.group(t, facts)
	if err := b.nodes(t); err != nil {
		return nil, err
	}
	if err := b.isolation(t); err != nil {
		return nil, err
	}
	if err := b.cpuinfo(t, id); err != nil {
		return nil, err
	}
	t.CacheLine = t.CPUID.CacheLine
	if len(t.CPUs[0].Caches) > 0 && t.CPUs[0].Caches[0].LineSize > 0 {
		t.CacheLine = t.CPUs[0].Caches[0].LineSize
	}
	if t.CacheLine <= 0 {
		t.CacheLine = 64
		b.unknown["cache_line"] = true
	}
	for k := range b.unknown {
		t.Unknown = append(t.Unknown, k)
	}
	slices.Sort(t.Unknown)
	return t, nil
}

// cpu reads cpuN/topology and cpuN/cache.
func (b *builder) cpu(c int, online CPUSet) (cpuFacts, error) {
	var f cpuFacts
	dir := sysCPU + "/cpu" + strconv.Itoa(c)
	var ok bool
	var err error
	if f.pkg, ok, err = readInt(b.fsys, dir+"/topology/physical_package_id"); err != nil {
		return f, err
	} else if !ok {
		b.unknown["package"] = true
	}
	if f.die, ok, err = readInt(b.fsys, dir+"/topology/die_id"); err != nil {
		return f, err
	} else if !ok {
		b.unknown["die"] = true
	}
	if f.coreID, f.hasCoreID, err = readInt(b.fsys, dir+"/topology/core_id"); err != nil {
		return f, err
	}
	if f.siblings, f.hasSiblings, err = siblingsFS(b.fsys, c); err != nil {
		return f, err
	}
	if !f.hasSiblings && !f.hasCoreID {
		b.unknown["core"] = true
	}
	idx, ok, err := numbered(b.fsys, dir+"/cache", "index")
	if err != nil {
		return f, err
	}
	if !ok || len(idx) == 0 {
		b.unknown["cache"] = true
	}
	for _, k := range idx {
		cdir := dir + "/cache/index" + strconv.Itoa(k)
		var ch Cache
		if ch.Level, ok, err = readInt(b.fsys, cdir+"/level"); err != nil {
			return f, err
		} else if !ok {
			continue
		}
		if ch.Type, _, err = readFile(b.fsys, cdir+"/type"); err != nil {
			return f, err
		}
		if ch.Size, _, err = readSize(b.fsys, cdir+"/size"); err != nil {
			return f, err
		}
		if ch.LineSize, _, err = readInt(b.fsys, cdir+"/coherency_line_size"); err != nil {
			return f, err
		}
		shared, hasShared, err := readList(b.fsys, cdir+"/shared_cpu_list")
		if err != nil {
			return f, err
		}
		ch.Shared = shared.Intersect(online)
		f.caches = append(f.caches, ch)
		if ch.Level == 3 && ch.Type != "Instruction" && hasShared {
			f.l3, f.hasL3 = shared, true
		}
	}
	if !f.hasL3 {
		b.unknown["l3"] = true
	}
	return f, nil
}

// group assigns physical cores and L3 domains: CPUs are joined when one
// lists the other as a sibling (or as sharing its L3), so the groups are
// well defined even if files disagree; groups are numbered by lowest CPU.
func (b *builder) group(t *Topo, facts []cpuFacts) {
	n := len(t.CPUs)
	core, l3 := newUnionFind(n), newUnionFind(n)
	byCoreKey := map[[3]int]int{}
	byPkg := map[int]int{}
	for i := range t.CPUs {
		f := &facts[i]
		switch {
		case f.hasSiblings:
			for _, s := range f.siblings {
				if j, ok := slices.BinarySearch(t.Online, s); ok {
					core.union(i, j)
				}
			}
		case f.hasCoreID:
			key := [3]int{f.pkg, f.die, f.coreID}
			if j, ok := byCoreKey[key]; ok {
				core.union(i, j)
			} else {
				byCoreKey[key] = i
			}
		}
		if f.hasL3 {
			for _, s := range f.l3 {
				if j, ok := slices.BinarySearch(t.Online, s); ok {
					l3.union(i, j)
				}
			}
		} else if j, ok := byPkg[f.pkg]; ok {
			l3.union(i, j)
		} else {
			byPkg[f.pkg] = i
		}
	}
	coreIDs, coreMembers := core.number(t.Online)
	l3IDs, l3Members := l3.number(t.Online)
	pkgs := map[int]bool{}
	for i := range t.CPUs {
		c := &t.CPUs[i]
		c.Core, c.Siblings = coreIDs[i], coreMembers[coreIDs[i]]
		c.L3, c.L3CPUs = l3IDs[i], l3Members[l3IDs[i]]
		pkgs[c.Package] = true
	}
	t.Packages, t.Cores, t.L3Domains = len(pkgs), len(coreMembers), len(l3Members)
}

// nodes reads sys/devices/system/node/nodeN/cpulist.
func (b *builder) nodes(t *Topo) error {
	ids, ok, err := numbered(b.fsys, sysNode, "node")
	if err != nil {
		return err
	}
	if !ok || len(ids) == 0 {
		b.unknown["numa"] = true
		t.Nodes = 1
		return nil
	}
	found := make([]bool, len(t.CPUs))
	used := map[int]bool{}
	for _, node := range ids {
		cpus, _, err := readList(b.fsys, sysNode+"/node"+strconv.Itoa(node)+"/cpulist")
		if err != nil {
			return err
		}
		for _, c := range cpus {
			if i, ok := slices.BinarySearch(t.Online, c); ok && !found[i] {
				t.CPUs[i].Node, found[i] = node, true
				used[node] = true
			}
		}
	}
	for _, f := range found {
		if !f {
			b.unknown["numa"] = true
			used[0] = true
			break
		}
	}
	t.Nodes = len(used)
	return nil
}

func (b *builder) isolation(t *Topo) error {
	iso, ok, err := readList(b.fsys, sysCPU+"/isolated")
	if err != nil {
		return err
	}
	if !ok {
		b.unknown["isolated"] = true
	}
	nohz, ok, err := readList(b.fsys, sysCPU+"/nohz_full")
	if err != nil {
		return err
	}
	if !ok {
		b.unknown["nohz_full"] = true
	}
	t.Isolated, t.NohzFull = iso.Intersect(t.Online), nohz.Intersect(t.Online)
	return nil
}

// cpuinfo reads the first processor's block of proc/cpuinfo: the x86 flags
// (invariant TSC) and, when id has no vendor, vendor/brand/family/model.
func (b *builder) cpuinfo(t *Topo, id CPUID) error {
	t.CPUID = id
	t.CPUID.Features = slices.Clone(id.Features)
	kv, err := readCPUInfo(b.fsys)
	if err != nil {
		return err
	}
	if flags, ok := kv["flags"]; ok {
		f := strings.Fields(flags)
		t.InvariantTSC = slices.Contains(f, "constant_tsc") && slices.Contains(f, "nonstop_tsc")
	} else {
		b.unknown["invariant_tsc"] = true
	}
	if t.CPUID.Vendor == "" && kv["vendor_id"] != "" {
		t.CPUID.Vendor = kv["vendor_id"]
		t.CPUID.Brand = kv["model name"]
		for key, dst := range map[string]*int{"cpu family": &t.CPUID.Family, "model": &t.CPUID.Model, "stepping": &t.CPUID.Stepping} {
			if v, ok := kv[key]; ok {
				n, err := strconv.Atoi(v)
				if err != nil {
					return msg.Errorf("%w: %s: %s %q is not an integer", ErrTopology, procCPUInfo, key, v)
				}
				*dst = n
			}
		}
	}
	if t.CPUID.Vendor == "" {
		b.unknown["cpuid"] = true
	}
	return nil
}

// readCPUInfo returns the "key : value" pairs of the first block of
// proc/cpuinfo (empty if the file is missing). It streams, so the size of
// the file (hundreds of KiB on large hosts) does not matter.
func readCPUInfo(fsys fs.FS) (map[string]string, error) {
	kv := map[string]string{}
	f, err := fsys.Open(procCPUInfo)
	if errors.Is(err, fs.ErrNotExist) {
		return kv, nil
	}
	if err != nil {
		return nil, msg.Errorf("%w: %s: %w", ErrTopology, procCPUInfo, err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 4096), maxFileLength)
	for sc.Scan() {
		line := sc.Text()
		if strings.TrimSpace(line) == "" {
			if len(kv) > 0 {
				break
			}
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		k = strings.TrimSpace(k)
		if _, dup := kv[k]; !dup {
			kv[k] = strings.TrimSpace(v)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, msg.Errorf("%w: %s: %w", ErrTopology, procCPUInfo, err)
	}
	return kv, nil
}

// unionFind over indexes 0…n-1.
type unionFind []int

func newUnionFind(n int) unionFind {
	u := make(unionFind, n)
	for i := range u {
		u[i] = i
	}
	return u
}

func (u unionFind) find(i int) int {
	for u[i] != i {
		u[i] = u[u[i]]
		i = u[i]
	}
	return i
}

func (u unionFind) union(i, j int) {
	a, b := u.find(i), u.find(j)
	if a < b {
		u[b] = a
	} else {
		u[a] = b
	}
}

// number gives each group a dense id in order of its lowest member and
// returns the id of every index plus each group's members (as CPU IDs).
func (u unionFind) number(ids CPUSet) (group []int, members []CPUSet) {
	group = make([]int, len(u))
	byRoot := map[int]int{}
	for i := range u {
		r := u.find(i)
		g, ok := byRoot[r]
		if !ok {
			g = len(members)
			byRoot[r] = g
			members = append(members, nil)
		}
		group[i] = g
		members[g] = append(members[g], ids[i])
	}
	return group, members
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
