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

// cstateFacts is what the spinner CPUs' cpuidle directories say.
type cstateFacts struct {
	deep      map[int][]cstate // spinner → its enabled deep states
	seen      affinity.CPUSet  // spinners with a cpuidle directory
	noDir     affinity.CPUSet  // spinners without one
	bad       []string         // latency files that could not be read
	latencies map[string]int64 // state name → exit latency, over all spinners
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
	st := readCStates(h)
	evidence := cstateEvidence(h, st)
	switch {
	case len(st.deep) > 0:
		return one(id, Warn, deepCStateSummary(h, st), evidence+"; a process holding /dev/cpu_dma_latency would keep them unused, which this check cannot see",
			deepCStateFix(h, st))
	case len(st.bad) > 0:
		return one(id, Info, "C-states unknown on some spinner CPUs: "+strings.Join(st.bad, "; "), evidence, "")
	case len(st.seen) == 0:
		return one(id, Info, "no cpuidle states on the spinner CPUs: idle is left to the default halt (or idle=), C-states are the firmware's or hypervisor's", evidence, "")
	}
	return one(id, OK, fmt.Sprintf("no C-state deeper than %d µs is enabled on the spinner CPUs", DeepCStateLatency), evidence, "")
}

// readCStates reads every stateK of every spinner CPU; a missing disable
// file counts as enabled.
func readCStates(h *host) cstateFacts {
	st := cstateFacts{deep: map[int][]cstate{}, latencies: map[string]int64{}}
	for _, c := range h.spinners {
		dir := cpuPath(c, "cpuidle")
		ents, err := fs.ReadDir(h.fsys, dir)
		if err != nil {
			st.noDir = append(st.noDir, c)
			continue
		}
		st.seen = append(st.seen, c)
		for _, e := range ents {
			k, ok := strings.CutPrefix(e.Name(), "state")
			idx, err := strconv.Atoi(k)
			if !ok || err != nil {
				continue
			}
			base := dir + "/" + e.Name()
			lat, err := readInt(h.fsys, base+"/latency")
			if err != nil {
				st.bad = append(st.bad, err.Error())
				continue
			}
			name, _ := readString(h.fsys, base+"/name")
			if name == "" {
				name = e.Name()
			}
			st.latencies[name] = lat
			if dis, err := readString(h.fsys, base+"/disable"); err == nil && dis != "0" {
				continue
			}
			if lat > DeepCStateLatency {
				st.deep[c] = append(st.deep[c], cstate{idx, name, lat})
			}
		}
	}
	return st
}

// cstateEvidence lists the driver, the states by latency, the idle
// parameters on the command line and what could not be read.
func cstateEvidence(h *host, st cstateFacts) string {
	var ev []string
	if d, err := readString(h.fsys, idleDriverPath); err == nil {
		ev = append(ev, "cpuidle driver "+d)
	}
	names := make([]string, 0, len(st.latencies))
	for n := range st.latencies {
		names = append(names, n)
	}
	slices.SortFunc(names, func(a, b string) int {
		return cmp.Or(cmp.Compare(st.latencies[a], st.latencies[b]), cmp.Compare(a, b))
	})
	if len(names) > 0 {
		var s []string
		for _, n := range names {
			s = append(s, fmt.Sprintf("%s %d µs", n, st.latencies[n]))
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
	if len(st.noDir) > 0 {
		ev = append(ev, "no cpuidle directory for "+cpus(st.noDir))
	}
	return strings.Join(append(ev, st.bad...), "; ")
}

// deepCStateSummary names every enabled deep state and its CPU.
func deepCStateSummary(h *host, st cstateFacts) string {
	var s []string
	for _, c := range h.spinners {
		for _, d := range st.deep[c] {
			s = append(s, fmt.Sprintf("%s (%d µs) on cpu%d", d.name, d.latency, c))
		}
	}
	return fmt.Sprintf("deep C-states (exit latency > %d µs) are enabled on spinner CPUs: %s", DeepCStateLatency, strings.Join(s, ", "))
}

// deepCStateFix disables the deep states, one loop per group of CPUs with
// the same state indexes, then gives the persistent parameter for the
// cpuidle driver in use.
func deepCStateFix(h *host, st cstateFacts) string {
	groups := map[string]affinity.CPUSet{}
	var keys []string
	for _, c := range h.spinners {
		if len(st.deep[c]) == 0 {
			continue
		}
		var idx []int
		for _, d := range st.deep[c] {
			idx = append(idx, d.index)
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
	return lines(fix...)
}
