package affinity

import (
	"cmp"
	"slices"
	"strconv"
	"strings"

	"github.com/spinwire/spinwire/internal/msg"
)

// PlanResult is the outcome of Plan: the chosen CPUs and, for every
// preference that could not be met, a warning worth showing to the user.
type PlanResult struct {
	CPUs     []int    // chosen CPUs, ascending; len(CPUs) == k
	Warnings []string // one sentence per unmet preference, in a fixed order; nil for an ideal plan
}

// Plan chooses k CPUs for spinners on the running host: Topology plus the
// calling thread's Allowed mask, then Topo.Plan. Cost: as Topology (file
// reads; call it at setup). A k ≤ 0 or larger than the number of allowed
// online CPUs gives an error wrapping ErrInvalidCount that names k.
func Plan(k int) (PlanResult, error) {
	if k <= 0 {
		return PlanResult{}, msg.Errorf("%w: k=%d (want ≥ 1)", ErrInvalidCount, k)
	}
	t, err := Topology()
	if err != nil {
		return PlanResult{}, err
	}
	allowed, err := Allowed()
	if err != nil {
		return PlanResult{}, err
	}
	return t.Plan(allowed, k)
}

// Plan chooses k CPUs for spinners among allowed (usually Allowed()); it is
// a pure function of t, allowed and k, so the same inputs always give the
// same plan. Offline CPUs in allowed are ignored. The rules, strongest
// first:
//
//  1. only allowed online CPUs;
//  2. never CPU 0 while at least k other CPUs are allowed (CPU 0 takes
//     timers and interrupts that cannot be moved);
//  3. distinct physical cores: no two spinners on SMT siblings;
//  4. as many isolated CPUs (Topo.IsIsolated) as possible;
//  5. one L3 domain, else as few as possible;
//  6. ties: the isolated sibling first within a core; cores sharing CPU 0's
//     core last, and domains avoiding that core first; then the lowest L3
//     domain and the lowest CPU numbers.
//
// Rule 3 ranks above rule 4 because two spinners on one core halve each
// other's throughput on every message, while a non-isolated CPU only adds
// occasional tail latency; rule 4 ranks above rule 5 as docs/design.md
// lists them. When a rule cannot be kept Plan still returns k CPUs and says so in
// Warnings (no isolated CPU, CPU 0 used, SMT siblings shared, L3 domains or
// NUMA nodes spanned).
//
// A k ≤ 0 or larger than the number of allowed online CPUs gives an error
// wrapping ErrInvalidCount, an allowed CPU outside [0, MaxCPU) one wrapping
// ErrInvalidCPU, a nil Topo one wrapping ErrTopology; each names the value.
func (t *Topo) Plan(allowed CPUSet, k int) (PlanResult, error) {
	if t == nil || len(t.CPUs) == 0 {
		return PlanResult{}, msg.Errorf("%w: plan k=%d on an empty or nil Topo", ErrTopology, k)
	}
	if k <= 0 {
		return PlanResult{}, msg.Errorf("%w: k=%d (want ≥ 1)", ErrInvalidCount, k)
	}
	for _, c := range allowed {
		if c < 0 || c >= MaxCPU {
			return PlanResult{}, msg.Errorf("%w: allowed cpu=%d (want 0…%d)", ErrInvalidCPU, c, MaxCPU-1)
		}
	}
	usable := slices.Clone(allowed).Normalize().Intersect(t.Online)
	cand := usable
	if k > len(cand) {
		return PlanResult{}, msg.Errorf("%w: k=%d but only %d allowed online cpus (%s)", ErrInvalidCount, k, len(cand), orNone(cand))
	}
	if cand.Contains(0) && len(cand)-1 >= k {
		cand = cand.Minus(CPUSet{0})
	}
	cores := t.planCores(cand)
	var pick []int
	var why string
	if len(cores) >= k {
		pick, why = pickDistinct(cores, k)
	} else {
		pick = t.pickShared(cores, k)
	}
	slices.Sort(pick)
	return PlanResult{CPUs: pick, Warnings: t.planWarnings(pick, usable, len(cores), why)}, nil
}

// planCore is one physical core's share of the candidate CPUs.
type planCore struct {
	cpus     []int // candidates on this core: isolated first, then by number
	iso      bool  // cpus[0] is isolated
	withCPU0 bool  // CPU 0 is on this core (not a candidate itself)
	l3       int
}

func (t *Topo) planCores(cand CPUSet) []*planCore {
	byCore := map[int]*planCore{}
	var cores []*planCore
	for _, c := range cand {
		cpu := t.lookup(c)
		pc := byCore[cpu.Core]
		if pc == nil {
			pc = &planCore{l3: cpu.L3, withCPU0: t.SameCore(0, c)}
			byCore[cpu.Core] = pc
			cores = append(cores, pc)
		}
		pc.cpus = append(pc.cpus, c)
	}
	for _, pc := range cores {
		slices.SortStableFunc(pc.cpus, func(a, b int) int {
			return cmpBool(t.IsIsolated(b), t.IsIsolated(a)) // isolated first; stable keeps numbers ascending
		})
		pc.iso = t.IsIsolated(pc.cpus[0])
	}
	slices.SortFunc(cores, compareCores)
	return cores
}

// compareCores orders cores by preference: isolated first, cores sharing
// CPU 0's core last, then by lowest candidate.
func compareCores(a, b *planCore) int {
	if c := cmpBool(b.iso, a.iso); c != 0 {
		return c
	}
	if c := cmpBool(a.withCPU0, b.withCPU0); c != 0 {
		return c
	}
	return cmp.Compare(a.cpus[0], b.cpus[0])
}

func cmpBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case !a:
		return -1
	default:
		return 1
	}
}

// pickDistinct picks k distinct cores (len(cores) ≥ k, cores sorted by
// compareCores): the most isolated ones possible, in one L3 domain if that
// costs no isolated CPU, else greedily over as few domains as possible. why
// explains a plan that spans domains.
func pickDistinct(cores []*planCore, k int) (pick []int, why string) {
	g := groupByL3(cores)
	want := min(k, g.isoCores)
	single, distinctFits := g.oneDomain(k, want)
	if single != nil {
		return reps(single), ""
	}
	why = msg.Sprintf("no single L3 domain offers %d distinct physical cores among the allowed CPUs", k)
	if distinctFits {
		why = msg.Sprintf("no single L3 domain offers %d isolated distinct physical cores, and isolation ranks first", want)
	}
	return g.greedy(k, want), why
}

// l3Groups are the candidate cores grouped by L3 domain.
type l3Groups struct {
	byL3     map[int][]*planCore // each in compareCores order
	l3s      []int               // the domains, ascending
	isoCores int                 // cores with an isolated CPU, over all domains
	isoCount map[int]int         // per domain: cores with an isolated CPU
	cpu0Core map[int]bool        // per domain: holds CPU 0's core
}

func groupByL3(cores []*planCore) *l3Groups {
	g := &l3Groups{byL3: map[int][]*planCore{}, isoCount: map[int]int{}, cpu0Core: map[int]bool{}}
	for _, pc := range cores {
		if pc.iso {
			g.isoCores++
		}
		if _, ok := g.byL3[pc.l3]; !ok {
			g.l3s = append(g.l3s, pc.l3)
		}
		g.byL3[pc.l3] = append(g.byL3[pc.l3], pc)
	}
	slices.Sort(g.l3s)
	for _, d := range g.l3s {
		g.isoCount[d], g.cpu0Core[d] = countIso(g.byL3[d]), hasCPU0Core(g.byL3[d])
	}
	return g
}

// oneDomain returns the first k cores of the lowest domain that has k
// cores with want isolated among them, preferring one without CPU 0's
// core; nil if none. distinctFits reports whether any domain has k cores.
func (g *l3Groups) oneDomain(k, want int) (single []*planCore, distinctFits bool) {
	for _, d := range g.l3s {
		cs := g.byL3[d]
		if len(cs) < k {
			continue
		}
		distinctFits = true
		if countIso(cs[:k]) == want && (single == nil || hasCPU0Core(single) && !hasCPU0Core(cs[:k])) {
			single = cs[:k]
		}
	}
	return single, distinctFits
}

// greedy picks k cores over domains, largest first, which minimises the
// number of domains for a count: want isolated cores first, then the
// others, from domains already used before new ones.
func (g *l3Groups) greedy(k, want int) (pick []int) {
	ranked := slices.Clone(g.l3s) // ascending, so stable sorts tie-break on the lowest domain
	slices.SortStableFunc(ranked, func(a, b int) int {
		if c := cmp.Compare(g.isoCount[b], g.isoCount[a]); c != 0 {
			return c
		}
		if c := cmp.Compare(len(g.byL3[b]), len(g.byL3[a])); c != 0 {
			return c
		}
		return cmpBool(g.cpu0Core[a], g.cpu0Core[b])
	})
	taken := map[*planCore]bool{}
	var used []int
	take := func(d int, iso bool, n int) int {
		for _, pc := range g.byL3[d] {
			if n == 0 {
				break
			}
			if pc.iso == iso && !taken[pc] {
				taken[pc] = true
				pick = append(pick, pc.cpus[0])
				n--
				if !slices.Contains(used, d) {
					used = append(used, d)
				}
			}
		}
		return n
	}
	n := want
	for _, d := range ranked {
		n = take(d, true, n)
	}
	n = k - want
	rest := slices.DeleteFunc(slices.Clone(g.l3s), func(d int) bool { return slices.Contains(used, d) })
	slices.SortStableFunc(rest, func(a, b int) int {
		if c := cmp.Compare(len(g.byL3[b])-g.isoCount[b], len(g.byL3[a])-g.isoCount[a]); c != 0 {
			return c
		}
		return cmpBool(g.cpu0Core[a], g.cpu0Core[b])
	})
	for _, d := range append(slices.Clone(used), rest...) {
		n = take(d, false, n)
	}
	return pick
}

// pickShared is the fallback when fewer than k cores are allowed: one CPU
// from every core, then the remaining siblings, isolated first, then by
// number (every core already has a spinner, so L3 is no longer a choice).
func (t *Topo) pickShared(cores []*planCore, k int) []int {
	var pick, rest []int
	for _, pc := range cores {
		pick = append(pick, pc.cpus[0])
		rest = append(rest, pc.cpus[1:]...)
	}
	slices.Sort(rest)
	slices.SortStableFunc(rest, func(a, b int) int { return cmpBool(t.IsIsolated(b), t.IsIsolated(a)) })
	return append(pick, rest[:k-len(pick)]...)
}

func countIso(cs []*planCore) int {
	n := 0
	for _, pc := range cs {
		if pc.iso {
			n++
		}
	}
	return n
}

// sharedCores lists, for every physical core holding two or more of cpus,
// those CPUs ("2 and 18", "4, 20 and 36"), in order of the core's first CPU.
// Duplicates and unknown CPUs are ignored. Cost: O(n log n).
func (t *Topo) sharedCores(cpus []int) []string {
	byCore := map[int]CPUSet{}
	var order []int
	for _, n := range slices.Sorted(slices.Values(cpus)) {
		c := t.lookup(n)
		if c == nil {
			continue
		}
		if _, ok := byCore[c.Core]; !ok {
			order = append(order, c.Core)
		}
		if set := byCore[c.Core]; len(set) == 0 || set[len(set)-1] != n {
			byCore[c.Core] = append(set, n)
		}
	}
	var out []string
	for _, core := range order {
		set := byCore[core]
		if len(set) < 2 {
			continue
		}
		words := make([]string, len(set))
		for i, n := range set {
			words[i] = strconv.Itoa(n)
		}
		out = append(out, strings.Join(words[:len(words)-1], ", ")+" and "+words[len(words)-1])
	}
	return out
}

func hasCPU0Core(cs []*planCore) bool {
	return slices.ContainsFunc(cs, func(pc *planCore) bool { return pc.withCPU0 })
}

func reps(cs []*planCore) []int {
	out := make([]int, len(cs))
	for i, pc := range cs {
		out[i] = pc.cpus[0]
	}
	return out
}

// planWarnings describes, in a fixed order, what the plan could not keep.
func (t *Topo) planWarnings(pick []int, allowed CPUSet, cores int, why string) []string {
	var w []string
	k := len(pick)
	iso := 0
	for _, c := range pick {
		if t.IsIsolated(c) {
			iso++
		}
	}
	switch isolated := t.Isolated.Union(t.NohzFull); {
	case len(isolated) == 0:
		w = append(w, "no CPUs are isolated: the spinners share their CPUs with other work (boot with isolcpus= and nohz_full=; see tuning/README.md)")
	case iso < k:
		w = append(w, msg.Sprintf("only %d of %d planned CPUs are isolated (isolated: %s; of those allowed: %s)", iso, k, isolated, orNone(isolated.Intersect(allowed))))
	}
	if slices.Contains(pick, 0) {
		w = append(w, msg.Sprintf("CPU 0 is used: only %d CPUs are allowed for %d spinners, and CPU 0 takes timers and interrupts", len(allowed), k))
	}
	if shared := t.sharedCores(pick); len(shared) > 0 {
		w = append(w, msg.Sprintf("SMT siblings share a physical core (%s): only %d physical cores are allowed for %d spinners", strings.Join(shared, ", "), cores, k))
	}
	var l3s, nodes CPUSet
	for _, c := range pick {
		cpu := t.lookup(c)
		l3s = append(l3s, cpu.L3)
		nodes = append(nodes, cpu.Node)
	}
	l3s, nodes = l3s.Normalize(), nodes.Normalize()
	if slices.Contains(t.Unknown, "l3") {
		w = append(w, "L3 sharing is unknown (no L3 cache listed in sysfs): each package is taken as one L3 domain")
	}
	if len(l3s) > 1 {
		note := msg.Sprintf("the spinners span L3 domains %s, so messages cross between caches", l3s)
		if why != "" {
			note += ": " + why
		}
		w = append(w, note)
	}
	if len(nodes) > 1 {
		w = append(w, msg.Sprintf("the spinners span NUMA nodes %s", nodes))
	}
	return w
}
