package tuning

import (
	"fmt"
	"slices"
	"strings"

	"github.com/spinwire/spinwire/affinity"
)

// one wraps a single Finding.
func one(id string, sev Severity, summary, evidence, fix string) []Finding {
	return []Finding{{ID: id, Severity: sev, Summary: summary, Evidence: evidence, Fix: fix}}
}

// unknown is the Info finding of a check that could not read its input.
func unknown(id, what string, err error) []Finding {
	return one(id, Info, what+" unknown: "+err.Error(), err.Error(), "")
}

func lines(ls ...string) string {
	return strings.Join(slices.DeleteFunc(ls, func(s string) bool { return s == "" }), "\n")
}

func kernelParam(p ...string) string { return "kernel parameter: " + strings.Join(p, " ") }

// checkSpinnerCPUs reports which CPUs the other checks judge, and whether
// they exist. ID "spinner-cpus": crit if a spinner CPU is not online, warn if
// CPU 0 is a spinner while other CPUs exist, info when the set is a default or
// empty, ok when given and sound.
func checkSpinnerCPUs(h *host) []Finding {
	const id = "spinner-cpus"
	ev := fmt.Sprintf("spinner CPUs %q (%s); online %q", h.spinners.String(), h.spinnersHow, h.online.String())
	if h.onlineErr != nil {
		ev += fmt.Sprintf(" (%v; taken from the cpuN directories)", h.onlineErr)
	}
	if len(h.isolated) > 0 {
		ev += fmt.Sprintf("; isolated %q", h.isolated.String())
	}
	switch {
	case len(h.spinners) == 0:
		return one(id, Info, "no spinner CPU to check: the online CPUs are unknown", ev,
			"# pass the CPUs your spinners will use (tuning.Options.SpinnerCPUs)")
	case len(h.spinnersBad) > 0:
		var fix []string
		for _, c := range h.spinnersBad {
			fix = append(fix, fmt.Sprintf("echo 1 > /%s", cpuPath(c, "online")))
		}
		fix = append(fix, "# or choose spinner CPUs among the online ones: "+h.online.String())
		return one(id, Crit, "spinner "+cpus(h.spinnersBad)+" "+isAre(h.spinnersBad)+" not online", ev, lines(fix...))
	case h.spinners.Contains(0) && len(h.online) > 1:
		alt := h.isolated.Intersect(h.online)
		if len(alt) == 0 {
			alt = h.online.Minus(affinity.CPUSet{0})
		}
		return one(id, Warn, "CPU 0 is a spinner CPU: it takes timer, RCU and interrupt work that cannot be moved", ev,
			"# choose spinner CPUs other than 0, e.g. among "+alt.String())
	case !h.spinnersSet:
		return one(id, Info, "checking spinner "+cpus(h.spinners)+" ("+h.spinnersHow+")", ev,
			"# pass the CPUs your spinners will use to check those instead (tuning.Options.SpinnerCPUs)")
	}
	return one(id, OK, "spinner "+cpus(h.spinners)+" "+isAre(h.spinners)+" online", ev, "")
}

// checkCmdline reports whether /proc/cmdline could be read. ID "cmdline":
// info when it could not (the checks that need it — rcu_nocbs, mitigations,
// idle-poll, tsc-reliable — are then skipped), ok otherwise.
func checkCmdline(h *host) []Finding {
	if h.cmdline == nil {
		return one("cmdline", Info, "kernel command line unknown: "+h.cmdlineErr.Error()+
			"; the rcu_nocbs, mitigations, idle-poll and tsc-reliable checks are skipped",
			h.cmdlineErr.Error(), "")
	}
	ev := "/proc/cmdline: " + h.cmdline.raw
	if h.cmdline.init {
		ev += " -- (arguments for init omitted)"
	}
	return one("cmdline", OK, "kernel command line read", ev, "")
}

// isolcpusParam builds the isolcpus= value that isolates want, keeping the
// CPUs and flags already on the command line and adding managed_irq and
// domain.
func isolcpusParam(c *cmdline, want affinity.CPUSet) string {
	flags := []string{"managed_irq", "domain"}
	if v, ok := c.get("isolcpus"); ok {
		fl, list := isolcpusFlags(v)
		for _, f := range fl {
			if !slices.Contains(flags, f) {
				flags = append(flags, f)
			}
		}
		if have, err := affinity.ParseList(list); err == nil {
			want = union(want, have)
		}
	}
	return "isolcpus=" + strings.Join(flags, ",") + "," + want.String()
}

// checkIsolcpus: are the spinner CPUs isolated from the scheduler? Reads
// /sys/devices/system/cpu/isolated (isolcpus=) and, when present,
// /sys/fs/cgroup/cpuset.cpus.isolated (cgroup v2 isolated partitions, Linux
// 6.7+); if the sysfs file is missing or garbage, falls back to the isolcpus=
// list on the command line. ID "isolcpus": warn when a spinner CPU is not
// isolated, info when the spinners are isolated by isolcpus= without
// managed_irq or when nothing can be read, ok otherwise.
func checkIsolcpus(h *host) []Finding {
	const id = "isolcpus"
	if len(h.spinners) == 0 {
		return nil
	}
	iso := h.isolated
	var ev []string
	if h.isolatedErr == nil {
		ev = append(ev, fmt.Sprintf("/%s = %q", isolatedPath, h.isolatedSys))
	} else {
		ev = append(ev, h.isolatedErr.Error())
	}
	if h.isolatedCg != "" {
		ev = append(ev, fmt.Sprintf("/%s = %q", cgroupIsolPath, h.isolatedCg))
	}
	v, hasParam := h.cmdline.get("isolcpus")
	if h.cmdline != nil {
		ev = append(ev, h.cmdline.param("isolcpus"))
	}
	if h.isolatedErr != nil {
		if !hasParam && h.isolatedCg == "" {
			return one(id, Info, "isolated CPUs unknown: "+h.isolatedErr.Error(), strings.Join(ev, "; "), "")
		}
		_, list := isolcpusFlags(v)
		if set, err := affinity.ParseList(list); err == nil {
			iso = union(iso, set)
		}
	}
	evidence := strings.Join(ev, "; ")
	if miss := h.spinners.Minus(iso); len(miss) > 0 {
		return one(id, Warn,
			"spinner "+cpus(miss)+" "+isAre(miss)+" not isolated: the scheduler will run other tasks there",
			evidence, lines(
				kernelParam(isolcpusParam(h.cmdline, h.spinners)),
				"# without a reboot: a cgroup v2 isolated partition (tuning/README.md, \"Isolation without a reboot\")"))
	}
	if hasParam {
		if flags, _ := isolcpusFlags(v); !slices.Contains(flags, "managed_irq") {
			return one(id, Info, "spinner CPUs are isolated, but isolcpus= lacks managed_irq: managed interrupts (NVMe, multiqueue NICs) may still land on them",
				evidence, kernelParam(isolcpusParam(h.cmdline, h.spinners)))
		}
	}
	return one(id, OK, "spinner "+cpus(h.spinners)+" "+isAre(h.spinners)+" isolated", evidence, "")
}

// nohzSet returns the nohz_full CPUs from sysfs, with the raw value for the
// evidence. The kernel prints "(null)" there when nohz_full is compiled in
// but not in use.
func nohzSet(h *host) (affinity.CPUSet, string, error) {
	s, err := readString(h.fsys, nohzFullPath)
	if err != nil {
		return nil, "", err
	}
	if s == "(null)" {
		return nil, s, nil
	}
	set, err := affinity.ParseList(s)
	if err != nil {
		return nil, s, garbage(nohzFullPath, s)
	}
	return set, s, nil
}

// checkNohzFull: do the spinner CPUs run without the scheduler tick? Reads
// /sys/devices/system/cpu/nohz_full, which exists only in kernels built with
// CONFIG_NO_HZ_FULL. ID "nohz_full": warn when a spinner CPU is not in the
// set, info when the file is missing (kernel without support) or garbage, ok
// otherwise.
func checkNohzFull(h *host) []Finding {
	const id = "nohz_full"
	if len(h.spinners) == 0 {
		return nil
	}
	set, raw, err := nohzSet(h)
	param := ""
	if h.cmdline != nil {
		param = "; " + h.cmdline.param("nohz_full")
	}
	if err != nil {
		if notExist(err) {
			return one(id, Info, "nohz_full unsupported: this kernel was built without CONFIG_NO_HZ_FULL, so spinner CPUs keep a tick of up to 1000 Hz",
				err.Error()+param, "# use a kernel built with CONFIG_NO_HZ_FULL=y; check with: grep NO_HZ_FULL= /boot/config-$(uname -r)")
		}
		return unknown(id, "nohz_full CPUs", err)
	}
	ev := fmt.Sprintf("/%s = %q%s", nohzFullPath, raw, param)
	if miss := h.spinners.Minus(set); len(miss) > 0 {
		want := union(set, h.spinners)
		return one(id, Warn, "spinner "+cpus(miss)+" "+verb(miss, "keeps", "keep")+" the scheduler tick (not in nohz_full)", ev,
			kernelParam("nohz_full="+want.String()))
	}
	return one(id, OK, "spinner CPUs run tickless (nohz_full)", ev, "")
}

// parseCPUParam parses a CPU-list kernel parameter value, accepting "all".
func parseCPUParam(v string, online affinity.CPUSet) (affinity.CPUSet, error) {
	if v == "all" {
		return online, nil
	}
	return affinity.ParseList(v)
}

// checkRCUNocbs: are RCU callbacks offloaded from the spinner CPUs? Counts
// rcu_nocbs= from the command line plus the nohz_full CPUs (the kernel
// offloads those too) and isolcpus=nohz. Skipped without /proc/cmdline. ID
// "rcu_nocbs": warn when a spinner CPU runs its own RCU callbacks, info when
// rcu_nocbs= is garbage, ok otherwise.
func checkRCUNocbs(h *host) []Finding {
	const id = "rcu_nocbs"
	if h.cmdline == nil || len(h.spinners) == 0 {
		return nil
	}
	var covered affinity.CPUSet
	ev := []string{h.cmdline.param("rcu_nocbs")}
	if v, ok := h.cmdline.get("rcu_nocbs"); ok && v != "" {
		set, err := parseCPUParam(v, h.online)
		if err != nil {
			return one(id, Info, "rcu_nocbs= on the kernel command line is not a CPU list: "+v,
				"/proc/cmdline: "+h.cmdline.param("rcu_nocbs"), kernelParam("rcu_nocbs="+h.spinners.String()))
		}
		covered = append(covered, set...)
	}
	if set, raw, err := nohzSet(h); err == nil {
		covered = append(covered, set...)
		ev = append(ev, fmt.Sprintf("/%s = %q (nohz_full CPUs are offloaded too)", nohzFullPath, raw))
	} else if v, ok := h.cmdline.get("nohz_full"); ok {
		if set, err := affinity.ParseList(v); err == nil {
			covered = append(covered, set...)
			ev = append(ev, h.cmdline.param("nohz_full"))
		}
	}
	if v, ok := h.cmdline.get("isolcpus"); ok {
		if flags, list := isolcpusFlags(v); slices.Contains(flags, "nohz") {
			if set, err := affinity.ParseList(list); err == nil {
				covered = append(covered, set...)
				ev = append(ev, h.cmdline.param("isolcpus"))
			}
		}
	}
	covered = union(covered)
	if miss := h.spinners.Minus(covered); len(miss) > 0 {
		want := union(covered, h.spinners)
		return one(id, Warn, "spinner "+cpus(miss)+" "+verb(miss, "runs its", "run their")+" own RCU callbacks (not in rcu_nocbs or nohz_full)",
			strings.Join(ev, "; "), kernelParam("rcu_nocbs="+want.String()))
	}
	return one(id, OK, "RCU callbacks are offloaded from the spinner CPUs", strings.Join(ev, "; "), "")
}

// checkMitigations reports mitigations=off, a security trade-off. Skipped
// without /proc/cmdline. ID "mitigations": info when off, ok otherwise.
func checkMitigations(h *host) []Finding {
	if h.cmdline == nil {
		return nil
	}
	v, _ := h.cmdline.get("mitigations")
	ev := "/proc/cmdline: " + h.cmdline.param("mitigations")
	if v == "off" {
		return one("mitigations", Info,
			"CPU vulnerability mitigations are off: syscalls and context switches are cheaper, but the host is open to Spectre-class attacks; spinwire's hot path makes no syscalls, so it gains little",
			ev, "# remove mitigations=off from the kernel command line unless every process on this host is trusted")
	}
	return one("mitigations", OK, "CPU vulnerability mitigations are on (the hot path makes no syscalls, so they cost it little)", ev, "")
}

// checkIdlePoll reports idle=: idle=poll makes every idle CPU spin. Skipped
// without /proc/cmdline. ID "idle-poll": info when idle= is set, ok
// otherwise.
func checkIdlePoll(h *host) []Finding {
	if h.cmdline == nil {
		return nil
	}
	v, ok := h.cmdline.get("idle")
	ev := "/proc/cmdline: " + h.cmdline.param("idle")
	switch {
	case !ok:
		return one("idle-poll", OK, "idle= not set: idle CPUs use the cpuidle driver", ev, "")
	case v == "poll":
		return one("idle-poll", Info,
			"idle=poll: every idle CPU spins, burning power, lowering turbo headroom and stealing from SMT siblings; spinner CPUs never idle anyway",
			ev, "# prefer C-state limits (cstate finding) over idle=poll; remove idle=poll from the kernel command line")
	}
	return one("idle-poll", Info, "idle="+v+" overrides the cpuidle driver", ev, "# remove idle="+v+" unless you need it")
}

// checkTSCReliable reports tsc=reliable, which turns off the clocksource
// watchdog (a timer that visits the online CPUs in turn). Skipped without
// /proc/cmdline. ID "tsc-reliable": info when absent, ok when present.
func checkTSCReliable(h *host) []Finding {
	if h.cmdline == nil {
		return nil
	}
	v, _ := h.cmdline.get("tsc")
	ev := "/proc/cmdline: " + h.cmdline.param("tsc")
	if v == "reliable" {
		return one("tsc-reliable", OK, "tsc=reliable: no clocksource watchdog", ev, "")
	}
	return one("tsc-reliable", Info,
		"the clocksource watchdog runs (no tsc=reliable): a timer that checks the TSC every 0.5 s and can fire on a spinner CPU",
		ev, lines(kernelParam("tsc=reliable"),
			"# only on a host whose TSC is invariant (invariant-tsc finding) and synchronized across sockets"))
}
