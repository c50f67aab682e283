package tuning

import (
	"io/fs"

	"github.com/spinwire/spinwire/affinity"
)

// host is what Check learns once and every check shares.
type host struct {
	fsys fs.FS
	cpu  CPU // Options.CPU, HostCPU or the tree's /proc/cpuinfo

	cmdline    *cmdline // nil when /proc/cmdline could not be read
	cmdlineErr error

	online    affinity.CPUSet
	onlineErr error // non-nil: online is a guess from the cpuN directories

	isolated    affinity.CPUSet // sysfs isolated ∪ cgroup isolated partitions
	isolatedSys string          // raw /sys/devices/system/cpu/isolated ("" if absent)
	isolatedCg  string          // raw /sys/fs/cgroup/cpuset.cpus.isolated
	isolatedErr error           // the sysfs file could not be read or parsed

	spinners     affinity.CPUSet
	spinnersHow  string // how spinners were chosen, for the evidence
	spinnersSet  bool   // given by the caller (not a default)
	spinnersBad  affinity.CPUSet
	housekeeping affinity.CPUSet // where IRQs and timers should go; see setHousekeeping
}

// newHost reads the command line, the online and isolated CPUs, then
// settles the spinner and housekeeping sets, in that order (each step uses
// the ones before).
func newHost(fsys fs.FS, spinners []int, cpu CPU) *host {
	h := &host{fsys: fsys, cpu: cpu}
	if s, err := readString(fsys, cmdlinePath); err != nil {
		h.cmdlineErr = err
	} else {
		h.cmdline = parseCmdline(s)
	}
	h.online, h.onlineErr = readList(fsys, onlinePath)
	if h.onlineErr != nil {
		h.online = cpuDirs(fsys)
	}
	h.readIsolated()
	h.setSpinners(spinners)
	h.setHousekeeping()
	return h
}

// readIsolated reads the sysfs isolated list and the cgroup v2 isolated
// partitions; isolated is their union.
func (h *host) readIsolated() {
	var sys, cg affinity.CPUSet
	if s, err := readString(h.fsys, isolatedPath); err != nil {
		h.isolatedErr = err
	} else if sys, err = affinity.ParseList(s); err != nil {
		h.isolatedErr = garbage(isolatedPath, s)
	} else {
		h.isolatedSys = s
	}
	if s, err := readString(h.fsys, cgroupIsolPath); err == nil {
		if cg, err = affinity.ParseList(s); err == nil {
			h.isolatedCg = s
		}
	}
	h.isolated = union(sys, cg)
}

// setSpinners takes the caller's spinners, or the default: the isolated
// online CPUs, else every online CPU but 0, else the only one.
func (h *host) setSpinners(given []int) {
	if len(given) > 0 {
		h.spinners = union(given)
		h.spinnersHow, h.spinnersSet = "given by the caller", true
		if len(h.online) > 0 {
			h.spinnersBad = h.spinners.Minus(h.online)
		}
		return
	}
	iso := h.isolated
	if len(h.online) > 0 {
		iso = iso.Intersect(h.online)
	}
	switch {
	case len(iso) > 0:
		h.spinners, h.spinnersHow = iso, "default: the isolated CPUs"
	case len(h.online) > 1:
		h.spinners, h.spinnersHow = h.online.Minus(affinity.CPUSet{0}), "default: no CPU is isolated, so every online CPU except 0"
	default:
		h.spinners, h.spinnersHow = h.online, "default: the only online CPU"
	}
}

// setHousekeeping picks the CPUs that take the IRQs and timers moved off
// the spinners: online, neither isolated nor a spinner nor a spinner's SMT
// sibling, dropping these conditions from the last when nothing is left.
func (h *host) setHousekeeping() {
	var sibs affinity.CPUSet
	for _, c := range h.spinners {
		if s, err := siblings(h.fsys, c); err == nil {
			sibs = append(sibs, s...)
		}
	}
	sibs = union(sibs)
	for _, hk := range []affinity.CPUSet{
		h.online.Minus(h.isolated).Minus(h.spinners).Minus(sibs),
		h.online.Minus(h.isolated).Minus(h.spinners),
		h.online.Minus(h.spinners),
	} {
		if len(hk) > 0 {
			h.housekeeping = hk
			return
		}
	}
}
