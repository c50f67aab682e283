package affinity

import (
	"io/fs"
	"slices"
	"strconv"
)

// builder reads one tree into a Topo, noting in unknown the facts it had to
// default (Topo.Unknown).
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

// build reads the online CPUs, each CPU's directory, the NUMA nodes and the
// isolation files, in that order, and groups cores and L3 domains.
func (b *builder) build() (*Topo, error) {
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
	t.CacheLine = 64
	if c := t.CPUs[0].Caches; len(c) > 0 && c[0].LineSize > 0 {
		t.CacheLine = c[0].LineSize
	} else {
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
	dir := sysCPU + "/cpu" + strconv.Itoa(c)
	f, err := b.topology(c, dir)
	if err != nil {
		return f, err
	}
	if err := b.caches(&f, dir, online); err != nil {
		return f, err
	}
	return f, nil
}

// topology reads cpuN/topology: package, die, core_id and the SMT siblings.
func (b *builder) topology(c int, dir string) (cpuFacts, error) {
	var f cpuFacts
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
	return f, nil
}

// caches reads cpuN/cache/indexK into f.caches, by index number, and takes
// the L3's shared_cpu_list as f.l3.
func (b *builder) caches(f *cpuFacts, dir string, online CPUSet) error {
	idx, ok, err := numbered(b.fsys, dir+"/cache", "index")
	if err != nil {
		return err
	}
	if !ok || len(idx) == 0 {
		b.unknown["cache"] = true
	}
	for _, k := range idx {
		e, err := b.cache(dir + "/cache/index" + strconv.Itoa(k))
		if err != nil {
			return err
		}
		if !e.ok {
			continue
		}
		e.Shared = e.shared.Intersect(online)
		f.caches = append(f.caches, e.Cache)
		if e.Level == 3 && e.Type != "Instruction" && e.hasShared {
			f.l3, f.hasL3 = e.shared, true
		}
	}
	if !f.hasL3 {
		b.unknown["l3"] = true
	}
	return nil
}

// cacheEntry is one cpuN/cache/indexK directory as read, before its
// shared list is narrowed to the online CPUs.
type cacheEntry struct {
	Cache
	ok        bool   // the directory has a level file (else it is skipped)
	shared    CPUSet // shared_cpu_list as the file has it
	hasShared bool   // shared_cpu_list exists
}

// cache reads one cpuN/cache/indexK directory.
func (b *builder) cache(cdir string) (e cacheEntry, err error) {
	if e.Level, e.ok, err = readInt(b.fsys, cdir+"/level"); err != nil || !e.ok {
		return e, err
	}
	if e.Type, _, err = readFile(b.fsys, cdir+"/type"); err != nil {
		return e, err
	}
	if e.Size, _, err = readSize(b.fsys, cdir+"/size"); err != nil {
		return e, err
	}
	if e.LineSize, _, err = readInt(b.fsys, cdir+"/coherency_line_size"); err != nil {
		return e, err
	}
	e.shared, e.hasShared, err = readList(b.fsys, cdir+"/shared_cpu_list")
	return e, err
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
