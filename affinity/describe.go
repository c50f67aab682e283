package affinity

import (
	"strings"

	"github.com/spinwire/spinwire/internal/msg"
)

// String returns a one-line summary of the topology, e.g.
//
//	32 CPUs online (0-31), 2 packages, 16 physical cores (2 threads each),
//	2 L3 domains, 2 NUMA nodes; isolated 2-5,18-21; nohz_full 2-5,18-21;
//	housekeeping 0-1,6-17,22-31; cache line 64 B
//
// (without the line breaks), followed by "; unknown: …" when some facts were
// defaulted. A nil Topo gives "affinity.Topo(nil)".
func (t *Topo) String() string {
	if t == nil {
		return "affinity.Topo(nil)"
	}
	b := msg.Appendf(nil, "%d CPUs online (%s), %s, %s (%s), %s, %s",
		len(t.CPUs), t.Online,
		plural(t.Packages, "package"), plural(t.Cores, "physical core"), t.threadsPerCore(),
		plural(t.L3Domains, "L3 domain"), plural(t.Nodes, "NUMA node"))
	b = msg.Appendf(b, "; isolated %s; nohz_full %s; housekeeping %s; cache line %d B",
		orNone(t.Isolated), orNone(t.NohzFull), t.Housekeeping(), t.CacheLine)
	if len(t.Unknown) > 0 {
		b = msg.Appendf(b, "; unknown: %s", strings.Join(t.Unknown, ", "))
	}
	return string(b)
}

func (t *Topo) threadsPerCore() string {
	lo, hi := MaxCPU, 0
	for _, c := range t.CPUs {
		lo, hi = min(lo, len(c.Siblings)), max(hi, len(c.Siblings))
	}
	switch {
	case lo != hi:
		return msg.Sprintf("%d to %d threads each", lo, hi)
	case hi == 1:
		return "no SMT"
	default:
		return msg.Sprintf("%d threads each", hi)
	}
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return msg.Sprintf("%d %ss", n, what)
}

func orNone(s CPUSet) string {
	if len(s) == 0 {
		return "none"
	}
	return s.String()
}

// Describe explains where the given CPUs sit and how they relate, for a
// benchmark report, e.g.
//
//	cpu 2: package 0, core 2 (SMT siblings 2,18), L3 domain 0 (0-7,16-23), node 0, isolated;
//	cpu 3: package 0, core 3 (SMT siblings 3,19), L3 domain 0 (0-7,16-23), node 0, isolated;
//	together: distinct physical cores, one L3 domain, one NUMA node, 2 of 2 isolated
//
// (one line each, joined by newlines; the last line only for two or more
// CPUs). A CPU the Topo does not describe is reported as "not online".
func (t *Topo) Describe(cpus ...int) string {
	if len(cpus) == 0 {
		return "no cpus"
	}
	var lines []string
	var l3s, nodes CPUSet
	known, iso := 0, 0
	for _, n := range cpus {
		c := t.lookup(n)
		if c == nil {
			lines = append(lines, msg.Sprintf("cpu %d: not online", n))
			continue
		}
		known++
		state := "not isolated"
		switch inIso, inNohz := t.Isolated.Contains(n), t.NohzFull.Contains(n); {
		case inIso && inNohz:
			state = "isolated (isolcpus, nohz_full)"
		case inIso:
			state = "isolated (isolcpus)"
		case inNohz:
			state = "isolated (nohz_full)"
		}
		if t.IsIsolated(n) {
			iso++
		}
		smt := "no SMT sibling"
		if len(c.Siblings) > 1 {
			smt = "SMT siblings " + c.Siblings.String()
		}
		lines = append(lines, msg.Sprintf("cpu %d: package %d, core %d (%s), L3 domain %d (%s), node %d, %s",
			n, c.Package, c.Core, smt, c.L3, c.L3CPUs, c.Node, state))
		l3s, nodes = append(l3s, c.L3), append(nodes, c.Node)
	}
	if known >= 2 {
		l3s, nodes = l3s.Normalize(), nodes.Normalize()
		cores := "distinct physical cores"
		if shared := t.sharedCores(cpus); len(shared) > 0 {
			cores = "SMT siblings share a core (" + strings.Join(shared, ", ") + ")"
		}
		l3 := "one L3 domain"
		if len(l3s) > 1 {
			l3 = "L3 domains " + l3s.String()
		}
		node := "one NUMA node"
		if len(nodes) > 1 {
			node = "NUMA nodes " + nodes.String()
		}
		lines = append(lines, msg.Sprintf("together: %s, %s, %s, %d of %d isolated", cores, l3, node, iso, known))
	}
	return strings.Join(lines, "\n")
}
