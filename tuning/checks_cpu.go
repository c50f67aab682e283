package tuning

import (
	"cmp"
	"fmt"
	"io/fs"
	"slices"
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
//     none is visible but /proc/cpuinfo has the hypervisor flag (a guest
//     does not see the host's SMT pairs).
//
// Both are info when no spinner's topology/thread_siblings_list can be read,
// ok otherwise. Unreadable CPUs are named in the evidence.
func checkSMT(h *host) []Finding {
	if len(h.spinners) == 0 {
		return nil
	}
	var (
		shared     [][2]int
		busy       = map[int]affinity.CPUSet{} // spinner → online non-spinner siblings
		read       int
		bad        []string
		siblingsOf = map[int]affinity.CPUSet{}
	)
	for _, c := range h.spinners {
		sib, err := siblings(h.fsys, c)
		if err != nil {
			bad = append(bad, err.Error())
			continue
		}
		read++
		siblingsOf[c] = sib
		for _, s := range sib {
			switch {
			case s == c:
			case h.spinners.Contains(s):
				if s > c {
					shared = append(shared, [2]int{c, s})
				}
			case len(h.online) == 0 || h.online.Contains(s):
				busy[c] = append(busy[c], s)
			}
		}
	}
	var ev []string
	for _, c := range h.spinners {
		if sib, ok := siblingsOf[c]; ok {
			ev = append(ev, fmt.Sprintf("cpu%d siblings %q", c, sib.String()))
		}
	}
	ev = append(ev, bad...)
	evidence := strings.Join(ev, "; ")
	if read == 0 {
		return []Finding{
			unknown("smt-shared-core", "SMT topology", fmt.Errorf("%s", strings.Join(bad, "; ")))[0],
			unknown("smt-sibling", "SMT topology", fmt.Errorf("%s", strings.Join(bad, "; ")))[0],
		}
	}

	var out []Finding
	if len(shared) > 0 {
		var pairs, fix []string
		for _, p := range shared {
			pairs = append(pairs, fmt.Sprintf("%d+%d", p[0], p[1]))
		}
		if alt := distinctCores(h); alt != nil {
			fix = append(fix, "# pin the spinners to distinct physical cores, e.g. CPUs "+alt.String())
		} else {
			fix = append(fix, "# pin the spinners to distinct physical cores: this host has too few cores for that many spinners")
		}
		out = append(out, Finding{ID: "smt-shared-core", Severity: Crit,
			Summary:  "spinners share a physical core (SMT siblings " + strings.Join(pairs, ", ") + "): each gets about half a core",
			Evidence: evidence, Fix: lines(fix...)})
	} else {
		out = append(out, Finding{ID: "smt-shared-core", Severity: OK,
			Summary: "each spinner has a physical core of its own", Evidence: evidence})
	}

	if len(busy) > 0 {
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
		out = append(out, Finding{ID: "smt-sibling", Severity: Warn,
			Summary:  "SMT siblings of spinner CPUs are online: " + strings.Join(who, ", "),
			Evidence: evidence, Fix: lines(fix...)})
	} else if flags, _, _ := cpuFlags(h.fsys); slices.Contains(flags, "hypervisor") {
		out = append(out, Finding{ID: "smt-sibling", Severity: Info,
			Summary:  "no SMT sibling is visible, but this is a VM: its vCPUs may still be SMT siblings on the host",
			Evidence: evidence + "; /proc/cpuinfo flags include hypervisor",
			Fix:      "# ask the provider for whole cores (dedicated hosts, or instance types documented as one vCPU per core), or use bare metal"})
	} else {
		out = append(out, Finding{ID: "smt-sibling", Severity: OK,
			Summary: "no spinner shares its core with a non-spinner CPU", Evidence: evidence})
	}
	return out
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

// checkGovernor reads cpuN/cpufreq/scaling_governor of each spinner CPU. ID
// "governor": warn when a spinner CPU's governor is not "performance", info
// when no spinner CPU has a cpufreq directory (typical of VMs: the hypervisor
// owns the frequency) or a file is garbage, ok otherwise.
func checkGovernor(h *host) []Finding {
	const id = "governor"
	if len(h.spinners) == 0 {
		return nil
	}
	byGov := map[string]affinity.CPUSet{}
	var slow affinity.CPUSet
	var missing affinity.CPUSet
	var bad []string
	for _, c := range h.spinners {
		g, err := readString(h.fsys, cpuPath(c, "cpufreq/scaling_governor"))
		switch {
		case err != nil && notExist(err):
			missing = append(missing, c)
			continue
		case err != nil:
			bad = append(bad, err.Error())
			continue
		case g == "" || strings.ContainsAny(g, " \n"):
			bad = append(bad, garbage(cpuPath(c, "cpufreq/scaling_governor"), g).Error())
			continue
		}
		byGov[g] = append(byGov[g], c)
		if g != "performance" {
			slow = append(slow, c)
		}
	}
	var ev []string
	govs := make([]string, 0, len(byGov))
	for g := range byGov {
		govs = append(govs, g)
	}
	slices.Sort(govs)
	for _, g := range govs {
		ev = append(ev, g+" on "+cpus(byGov[g]))
	}
	if len(missing) > 0 {
		ev = append(ev, fmt.Sprintf("no /%s/cpuN/cpufreq for %s", cpuDir, cpus(missing)))
	}
	ev = append(ev, bad...)
	evidence := strings.Join(ev, "; ")
	switch {
	case len(slow) > 0:
		return one(id, Warn,
			"spinner "+cpus(slow)+" "+verb(slow, "does", "do")+" not use the performance governor: "+verb(slow, "it", "they")+" may run below full clock",
			evidence, lines(
				fmt.Sprintf("for c in %s; do echo performance > /%s/cpu$c/cpufreq/scaling_governor; done", words(slow), cpuDir),
				"# persistent: tuned-adm profile latency-performance (or cpupower frequency-set -g performance at boot)"))
	case len(bad) > 0:
		return one(id, Info, "cpufreq governor unknown on some spinner CPUs: "+strings.Join(bad, "; "), evidence, "")
	case len(byGov) == 0:
		return one(id, Info, "no cpufreq on the spinner CPUs: the frequency is set by the hypervisor or firmware (usual on VMs)", evidence, "")
	}
	return one(id, OK, "spinner CPUs use the performance governor", evidence, "")
}

// DeepCStateLatency is the exit latency, in microseconds, above which a
// cpuidle state counts as deep: waking from it costs a spinner more than a
// round trip's worth of time. C1 (1–2 µs) and C1E (≈10 µs) pass; C3, C6 and
// deeper (tens to hundreds of µs) do not.
const DeepCStateLatency = 10

type cstate struct {
	index   int
	name    string
	latency int64
}

// checkCState reads cpuN/cpuidle/stateK/{name,latency,disable} of each
// spinner CPU. A spinner that is preempted, parks or waits for its peer can
// fall into an idle state; leaving a deep one costs its exit latency. ID
// "cstate": warn when a state with latency above DeepCStateLatency µs is
// enabled on a spinner CPU, info when no spinner CPU has a cpuidle directory
// or a latency file is garbage, ok otherwise. It cannot see a process holding
// /dev/cpu_dma_latency (which keeps the governor out of deep states without
// disabling them), and says so.
func checkCState(h *host) []Finding {
	const id = "cstate"
	if len(h.spinners) == 0 {
		return nil
	}
	deep := map[int][]cstate{} // spinner → enabled deep states
	var seen, noDir affinity.CPUSet
	var bad []string
	names := map[string]int64{}
	for _, c := range h.spinners {
		dir := cpuPath(c, "cpuidle")
		ents, err := fs.ReadDir(h.fsys, dir)
		if err != nil {
			noDir = append(noDir, c)
			continue
		}
		seen = append(seen, c)
		for _, e := range ents {
			k, ok := strings.CutPrefix(e.Name(), "state")
			idx, err := strconv.Atoi(k)
			if !ok || err != nil {
				continue
			}
			base := dir + "/" + e.Name()
			lat, err := readInt(h.fsys, base+"/latency")
			if err != nil {
				bad = append(bad, err.Error())
				continue
			}
			name, _ := readString(h.fsys, base+"/name")
			if name == "" {
				name = e.Name()
			}
			names[name] = lat
			if dis, err := readString(h.fsys, base+"/disable"); err == nil && dis != "0" {
				continue // disabled (a missing file counts as enabled)
			}
			if lat > DeepCStateLatency {
				deep[c] = append(deep[c], cstate{idx, name, lat})
			}
		}
	}
	var ev []string
	if d, err := readString(h.fsys, idleDriverPath); err == nil {
		ev = append(ev, "cpuidle driver "+d)
	}
	stateNames := make([]string, 0, len(names))
	for n := range names {
		stateNames = append(stateNames, n)
	}
	slices.SortFunc(stateNames, func(a, b string) int { return cmp.Or(cmp.Compare(names[a], names[b]), cmp.Compare(a, b)) })
	if len(stateNames) > 0 {
		var s []string
		for _, n := range stateNames {
			s = append(s, fmt.Sprintf("%s %d µs", n, names[n]))
		}
		ev = append(ev, "states: "+strings.Join(s, ", "))
	}
	if h.cmdline != nil {
		for _, p := range []string{"intel_idle.max_cstate", "processor.max_cstate", "idle"} {
			if _, ok := h.cmdline.get(p); ok {
				ev = append(ev, h.cmdline.param(p))
			}
		}
	}
	if len(noDir) > 0 {
		ev = append(ev, "no cpuidle directory for "+cpus(noDir))
	}
	ev = append(ev, bad...)
	evidence := strings.Join(ev, "; ")

	if len(deep) > 0 {
		// Group the CPUs by the set of state indexes to disable, so that the
		// fix is one loop per group.
		groups := map[string]affinity.CPUSet{}
		var keys, summary []string
		for _, c := range h.spinners {
			st := deep[c]
			if len(st) == 0 {
				continue
			}
			var idx []int
			for _, s := range st {
				idx = append(idx, s.index)
				summary = append(summary, fmt.Sprintf("%s (%d µs) on cpu%d", s.name, s.latency, c))
			}
			k := words(idx)
			if _, ok := groups[k]; !ok {
				keys = append(keys, k)
			}
			groups[k] = append(groups[k], c)
		}
		var fix []string
		for _, k := range keys {
			fix = append(fix, fmt.Sprintf("for c in %s; do for s in %s; do echo 1 > /%s/cpu$c/cpuidle/state$s/disable; done; done",
				words(groups[k]), k, cpuDir))
		}
		drv, _ := readString(h.fsys, idleDriverPath)
		switch drv {
		case "intel_idle":
			fix = append(fix, "# persistent: "+kernelParam("intel_idle.max_cstate=1"))
		case "acpi_idle":
			fix = append(fix, "# persistent: "+kernelParam("processor.max_cstate=1"))
		default:
			fix = append(fix, "# persistent: "+kernelParam("intel_idle.max_cstate=1 processor.max_cstate=1"))
		}
		fix = append(fix, "# or hold /dev/cpu_dma_latency at 0 while spinning (tuned's latency-performance does): tuning/README.md, \"C-states\"")
		return one(id, Warn, fmt.Sprintf("deep C-states (exit latency > %d µs) are enabled on spinner CPUs: %s",
			DeepCStateLatency, strings.Join(summary, ", ")), evidence+"; a process holding /dev/cpu_dma_latency would keep them unused, which this check cannot see",
			lines(fix...))
	}
	if len(bad) > 0 {
		return one(id, Info, "C-states unknown on some spinner CPUs: "+strings.Join(bad, "; "), evidence, "")
	}
	if len(seen) == 0 {
		return one(id, Info, "no cpuidle states on the spinner CPUs: idle is left to the default halt (or idle=), C-states are the firmware's or hypervisor's", evidence, "")
	}
	return one(id, OK, fmt.Sprintf("no C-state deeper than %d µs is enabled on the spinner CPUs", DeepCStateLatency), evidence, "")
}

// checkClocksource reads clocksource0/current_clocksource. Anything but the
// TSC makes time.Now and the runtime's nanotime slower (hpet and acpi_pm
// cost a system call or an MMIO read per call). ID "clocksource": warn when it
// is not tsc, info when unreadable, ok when tsc.
func checkClocksource(h *host) []Finding {
	const id = "clocksource"
	cur, err := readString(h.fsys, clocksourcePath)
	if err != nil {
		return unknown(id, "clocksource", err)
	}
	avail, _ := readString(h.fsys, clocksAvailPath)
	ev := fmt.Sprintf("/%s = %q; /%s = %q", clocksourcePath, cur, clocksAvailPath, avail)
	if cur == "tsc" {
		return one(id, OK, "the clocksource is the TSC", ev, "")
	}
	fix := "# the kernel rejected the TSC (see: dmesg | grep -i -e tsc -e clocksource); on a VM choose an instance type with an invariant TSC"
	if slices.Contains(strings.Fields(avail), "tsc") {
		fix = lines("echo tsc > /"+clocksourcePath, "# persistent: "+kernelParam("clocksource=tsc"))
	}
	return one(id, Warn, fmt.Sprintf("the clocksource is %s, not tsc: time.Now and timers cost more", cur), ev, fix)
}

// checkInvariantTSC reads the flags line of /proc/cpuinfo (x86 only): TSC
// timestamps are comparable across cores and C-states only with constant_tsc
// and nonstop_tsc. ID "invariant-tsc": warn when a flag is missing, info when
// the file is missing or has no flags line (not x86), ok otherwise.
func checkInvariantTSC(h *host) []Finding {
	const id = "invariant-tsc"
	flags, found, err := cpuFlags(h.fsys)
	if err != nil {
		return unknown(id, "invariant TSC", err)
	}
	if !found {
		return one(id, Info, "invariant TSC unknown: /proc/cpuinfo has no flags line (not an x86 CPU?)", "/proc/cpuinfo: no flags line", "")
	}
	var miss []string
	for _, f := range []string{"constant_tsc", "nonstop_tsc"} {
		if !slices.Contains(flags, f) {
			miss = append(miss, f)
		}
	}
	ev := "/proc/cpuinfo flags: constant_tsc " + yesNo(slices.Contains(flags, "constant_tsc")) +
		", nonstop_tsc " + yesNo(slices.Contains(flags, "nonstop_tsc"))
	if len(miss) > 0 {
		return one(id, Warn, "the TSC is not invariant (missing "+strings.Join(miss, ", ")+"): RDTSC timestamps drift with frequency changes or stop in deep C-states",
			ev, "# no software fix: run on a CPU (or a VM type) that reports constant_tsc and nonstop_tsc, or time with the monotonic clock instead of RDTSC")
	}
	return one(id, OK, "the TSC is invariant (constant_tsc, nonstop_tsc)", ev, "")
}

// cpuFlags returns the first "flags" line of /proc/cpuinfo (x86 only), and
// whether there was one.
func cpuFlags(fsys fs.FS) ([]string, bool, error) {
	s, err := readString(fsys, cpuinfoPath)
	if err != nil {
		return nil, false, err
	}
	for line := range strings.Lines(s) {
		k, v, ok := strings.Cut(line, ":")
		if ok && strings.TrimSpace(k) == "flags" {
			return strings.Fields(v), true, nil
		}
	}
	return nil, false, nil
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
