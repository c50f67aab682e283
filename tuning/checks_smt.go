package tuning

import (
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"strings"

	"github.com/spinwire/spinwire/affinity"
)

// siblings reads the SMT siblings of cpu (itself included) from
// topology/thread_siblings_list, falling back to core_cpus_list. The kernel
// lists only online CPUs there.
func siblings(fsys fs.FS, cpu int) (affinity.CPUSet, error) {
	set, err := readList(fsys, cpuPath(cpu, "topology/thread_siblings_list"))
	if err != nil && notExist(err) {
		if s2, err2 := readList(fsys, cpuPath(cpu, "topology/core_cpus_list")); err2 == nil {
			return s2, nil
		}
	}
	return set, err
}

// checkSMT looks at the SMT siblings of the spinner CPUs. IDs:
//   - "smt-shared-core": crit when two spinners are siblings of one physical
//     core (each gets about half a core and their PAUSEs slow each other);
//   - "smt-sibling": warn when a spinner's sibling is online and not a
//     spinner (whatever runs there shares the spinner's core); info when
//     none is visible but the processor is a VM's (CPU.VM: the CPUID
//     hypervisor bit, or the hypervisor flag of a tree's /proc/cpuinfo): a
//     guest does not see the host's SMT pairs.
//
// Both are info when no spinner's topology/thread_siblings_list can be read,
// ok otherwise. Unreadable CPUs are named in the evidence.
func checkSMT(h *host) []Finding {
	if len(h.spinners) == 0 {
		return nil
	}
	t := readSMT(h)
	if t.read == 0 {
		err := errors.New(strings.Join(t.bad, "; "))
		return []Finding{
			unknown("smt-shared-core", "SMT topology", err)[0],
			unknown("smt-sibling", "SMT topology", err)[0],
		}
	}
	var ev []string
	for _, c := range h.spinners {
		if sib, ok := t.siblingsOf[c]; ok {
			ev = append(ev, fmt.Sprintf("cpu%d siblings %q", c, sib.String()))
		}
	}
	evidence := strings.Join(append(ev, t.bad...), "; ")
	return []Finding{sharedCore(h, t.shared, evidence), busySibling(h, t.busy, evidence)}
}

// smtFacts is what the spinners' thread_siblings_list files say.
type smtFacts struct {
	siblingsOf map[int]affinity.CPUSet // spinner → its siblings, itself included
	shared     [][2]int                // pairs of spinners on one core, lower first
	busy       map[int]affinity.CPUSet // spinner → online non-spinner siblings
	read       int                     // spinners whose siblings were read
	bad        []string                // why the others could not be
}

func readSMT(h *host) smtFacts {
	t := smtFacts{siblingsOf: map[int]affinity.CPUSet{}, busy: map[int]affinity.CPUSet{}}
	for _, c := range h.spinners {
		sib, err := siblings(h.fsys, c)
		if err != nil {
			t.bad = append(t.bad, err.Error())
			continue
		}
		t.read++
		t.siblingsOf[c] = sib
		for _, s := range sib {
			switch {
			case s == c:
			case h.spinners.Contains(s):
				if s > c {
					t.shared = append(t.shared, [2]int{c, s})
				}
			case len(h.online) == 0 || h.online.Contains(s):
				t.busy[c] = append(t.busy[c], s)
			}
		}
	}
	return t
}

// sharedCore is the "smt-shared-core" finding.
func sharedCore(h *host, shared [][2]int, evidence string) Finding {
	if len(shared) == 0 {
		return Finding{ID: "smt-shared-core", Severity: OK,
			Summary: "each spinner has a physical core of its own", Evidence: evidence}
	}
	var pairs []string
	for _, p := range shared {
		pairs = append(pairs, fmt.Sprintf("%d+%d", p[0], p[1]))
	}
	fix := "# pin the spinners to distinct physical cores: this host has too few cores for that many spinners"
	if alt := distinctCores(h); alt != nil {
		fix = "# pin the spinners to distinct physical cores, e.g. CPUs " + alt.String()
	}
	return Finding{ID: "smt-shared-core", Severity: Crit,
		Summary:  "spinners share a physical core (SMT siblings " + strings.Join(pairs, ", ") + "): each gets about half a core",
		Evidence: evidence, Fix: fix}
}

// busySibling is the "smt-sibling" finding.
func busySibling(h *host, busy map[int]affinity.CPUSet, evidence string) Finding {
	if len(busy) == 0 && h.cpu.VM {
		return Finding{ID: "smt-sibling", Severity: Info,
			Summary:  "no SMT sibling is visible, but this is a VM: its vCPUs may still be SMT siblings on the host",
			Evidence: evidence + "; " + vmEvidence(h.cpu),
			Fix:      "# ask the provider for whole cores (dedicated hosts, or instance types documented as one vCPU per core), or use bare metal"}
	}
	if len(busy) == 0 {
		return Finding{ID: "smt-sibling", Severity: OK,
			Summary: "no spinner shares its core with a non-spinner CPU", Evidence: evidence}
	}
	var who, fix []string
	for _, c := range h.spinners {
		for _, s := range busy[c] {
			who = append(who, fmt.Sprintf("cpu%d (sibling of spinner %d)", s, c))
			if s == 0 {
				fix = append(fix, "# cpu0 cannot usually be taken offline: move the spinner off its core")
			} else {
				fix = append(fix, fmt.Sprintf("echo 0 > /%s", cpuPath(s, "online")))
			}
		}
	}
	fix = append(fix, "# or turn SMT off on the whole host: echo off > /"+smtControlPath+" (kernel parameter: nosmt)")
	return Finding{ID: "smt-sibling", Severity: Warn,
		Summary:  "SMT siblings of spinner CPUs are online: " + strings.Join(who, ", "),
		Evidence: evidence, Fix: lines(fix...)}
}

// vmEvidence says what shows that the processor is a VM's.
func vmEvidence(c CPU) string {
	if c.Source == "CPUID" {
		s := "CPUID: hypervisor bit set"
		if c.Hypervisor != "" {
			s += " (" + c.Hypervisor + ")"
		}
		return s
	}
	return c.Source + " flags include hypervisor"
}

// distinctCores suggests a spinner set of the same size with one CPU per
// physical core: it keeps each spinner whose core is still free and replaces
// the others with candidates (isolated online CPUs, else online CPUs except
// 0). Nil when there are not enough cores.
func distinctCores(h *host) affinity.CPUSet {
	coreOf := func(c int) string {
		sib, err := siblings(h.fsys, c)
		if err != nil {
			return "cpu" + strconv.Itoa(c)
		}
		return sib.String()
	}
	cands := h.isolated.Intersect(h.online)
	if len(cands) < len(h.spinners) {
		cands = h.online.Minus(affinity.CPUSet{0})
	}
	used := map[string]bool{}
	var out affinity.CPUSet
	var replace int
	for _, c := range h.spinners {
		if k := coreOf(c); !used[k] {
			used[k] = true
			out = append(out, c)
		} else {
			replace++
		}
	}
	for _, c := range cands {
		if replace == 0 {
			break
		}
		if k := coreOf(c); !used[k] && !out.Contains(c) {
			used[k] = true
			out = append(out, c)
			replace--
		}
	}
	if replace > 0 {
		return nil
	}
	return union(out)
}
