package tuning

import (
	"fmt"
	"strings"
)

const (
	noTurboPath = cpuDir + "/intel_pstate/no_turbo"
	boostPath   = cpuDir + "/cpufreq/boost"
)

// checkFreqDriver reads the frequency driver of the first spinner CPU and,
// for intel_pstate and amd-pstate in active mode, its energy-performance
// preference: a hint below "performance" lets the hardware lower the
// clock of a CPU that spins, whatever the governor says. ID
// "cpufreq-driver": warn when the preference is not "performance", info
// when there is no cpufreq (a VM: the hypervisor sets the clock) or the
// files are garbage, ok otherwise.
func checkFreqDriver(h *host) []Finding {
	const id = "cpufreq-driver"
	if len(h.spinners) == 0 {
		return nil
	}
	c := h.spinners[0]
	drv, err := readString(h.fsys, cpuPath(c, "cpufreq/scaling_driver"))
	if notExist(err) {
		return one(id, Info, "no cpufreq driver: the frequency is not under this kernel's control (a VM's hypervisor sets it)",
			err.Error(), "# on bare metal, load the platform's driver (intel_pstate, amd-pstate, acpi-cpufreq)")
	}
	if err != nil {
		return unknown(id, "frequency driver", err)
	}
	ev := []string{fmt.Sprintf("CPU %d: scaling_driver = %q", c, drv)}
	eppPath := cpuPath(c, "cpufreq/energy_performance_preference")
	epp, err := readString(h.fsys, eppPath)
	switch {
	case notExist(err):
		return one(id, OK, "frequency driver "+drv+" (no energy-performance preference)", ev[0], "")
	case err != nil:
		return unknown(id, "energy-performance preference", err)
	}
	ev = append(ev, fmt.Sprintf("energy_performance_preference = %q", epp))
	if epp == "performance" {
		return one(id, OK, "frequency driver "+drv+", energy-performance preference performance", strings.Join(ev, "; "), "")
	}
	var fix []string
	for _, s := range h.spinners {
		fix = append(fix, "echo performance > /"+cpuPath(s, "cpufreq/energy_performance_preference"))
	}
	fix = append(fix, "# undo: echo "+epp+" into the same files")
	return one(id, Warn, "frequency driver "+drv+" with energy-performance preference "+epp+": the hardware may slow a spinning CPU",
		strings.Join(ev, "; "), lines(fix...))
}

// checkTurbo reads whether turbo (boost) is on: intel_pstate's no_turbo or
// cpufreq's boost. Turbo is a choice, not a fault: on, a spinner runs
// faster but its clock moves with temperature and with the load of the
// other cores; off, it runs slower and steadier. ID "turbo": info when on
// (with how to turn it off), ok when off, nothing when neither file exists.
func checkTurbo(h *host) []Finding {
	const id = "turbo"
	if v, err := readInt(h.fsys, noTurboPath); err == nil {
		ev := fmt.Sprintf("/%s = %d", noTurboPath, v)
		if v == 1 {
			return one(id, OK, "turbo is off: a steady clock", ev, "")
		}
		return one(id, Info, "turbo is on: faster, but the clock moves with temperature and the other cores' load", ev,
			lines("# a choice: for the steadiest latency, echo 1 > /"+noTurboPath, "# undo: echo 0 > /"+noTurboPath))
	}
	v, err := readInt(h.fsys, boostPath)
	if err != nil {
		return nil
	}
	ev := fmt.Sprintf("/%s = %d", boostPath, v)
	if v == 0 {
		return one(id, OK, "boost is off: a steady clock", ev, "")
	}
	return one(id, Info, "boost is on: faster, but the clock moves with temperature and the other cores' load", ev,
		lines("# a choice: for the steadiest latency, echo 0 > /"+boostPath, "# undo: echo 1 > /"+boostPath))
}
