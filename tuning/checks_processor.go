package tuning

import "strings"

// checkProcessor names the processor (Check's CPU: CPUID through
// github.com/klauspost/cpuid/v2 on the live host, /proc/cpuinfo for a
// tree) and the features asm dispatches on, and looks for spinners on the
// efficiency cores of a hybrid processor, which run the same loop slower.
// The kernel lists those cores in /sys/devices/cpu_atom/cpus (Intel hybrid
// parts); the file's presence also marks a hybrid processor that CPU does
// not. ID "cpu": warn when a spinner CPU is an efficiency core, info when
// nothing identifies the processor or it is hybrid but the file is
// missing, ok otherwise.
func checkProcessor(h *host) []Finding {
	const id = "cpu"
	c := h.cpu
	ev := []string{"from " + c.Source}
	if f := c.shownFeatures(); len(f) > 0 {
		ev = append(ev, "features asm dispatches on: "+strings.Join(f, " "))
	} else if c.Known() {
		ev = append(ev, "none of "+strings.Join(cpuFeaturesShown, ", ")+": asm.Copy is the builtin copy")
	}
	atom, atomErr := readList(h.fsys, atomCPUsPath)
	hybrid := c.Hybrid || atomErr == nil
	if atomErr == nil {
		ev = append(ev, "/"+atomCPUsPath+" = "+atom.String())
	}
	evidence := strings.Join(ev, "; ")
	switch {
	case !c.Known() && !hybrid:
		return one(id, Info, "processor unknown: "+c.Source+" names no vendor or model", evidence, "")
	case !hybrid:
		return one(id, OK, c.String(), evidence, "")
	case atomErr != nil:
		return one(id, Info, "hybrid processor, but /"+atomCPUsPath+" cannot be read: which spinner CPUs are efficiency cores is unknown ("+c.String()+")",
			evidence+"; "+atomErr.Error(), "")
	}
	slow := atom.Intersect(h.spinners)
	if len(slow) == 0 {
		return one(id, OK, c.String()+"; no spinner is on an efficiency core", evidence, "")
	}
	fix := "# pin the spinners to performance cores"
	if fast := h.online.Minus(atom); len(fast) > 0 {
		fix += ": " + cpus(fast) + " (/" + coreCPUsPath + ")"
	}
	return one(id, Warn, "spinner "+cpus(slow)+" "+verb(slow, "is an efficiency core", "are efficiency cores")+" of a hybrid processor: a spinner there runs slower than on a performance core",
		evidence, fix)
}
