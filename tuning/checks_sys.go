package tuning

import (
	"fmt"
	"strings"
)

// checkWatchdog reads /proc/sys/kernel/{watchdog,soft_watchdog,nmi_watchdog,
// watchdog_cpumask} and the nosoftlockup / nmi_watchdog= parameters. While
// either lockup detector is on, each CPU in watchdog_cpumask runs a timer
// every few seconds (watchdog_thresh × 2/5) that wakes a stopper thread,
// preempting whatever runs there; the NMI detector adds a perf NMI. nohz_full
// CPUs are left out of the mask by default. ID "watchdog": warn when a
// detector is on and the mask includes a spinner CPU, info when
// /proc/sys/kernel/watchdog is missing or a file is garbage, ok otherwise.
func checkWatchdog(h *host) []Finding {
	const id = "watchdog"
	on, err := readInt(h.fsys, sysctlDir+"/watchdog")
	if err != nil {
		return unknown(id, "lockup watchdog", err)
	}
	ev := []string{fmt.Sprintf("kernel.watchdog = %d", on)}
	soft, nmi := on, on
	for _, x := range []struct {
		name string
		v    *int64
	}{{"soft_watchdog", &soft}, {"nmi_watchdog", &nmi}} {
		v, err := readInt(h.fsys, sysctlDir+"/"+x.name)
		switch {
		case err == nil:
			*x.v = v
			ev = append(ev, fmt.Sprintf("kernel.%s = %d", x.name, v))
		case !notExist(err):
			return unknown(id, "lockup watchdog", err)
		}
	}
	mask := h.online
	if m, err := readList(h.fsys, sysctlDir+"/watchdog_cpumask"); err == nil {
		mask = m
		ev = append(ev, fmt.Sprintf("kernel.watchdog_cpumask = %q", m.String()))
	} else if !notExist(err) {
		return unknown(id, "lockup watchdog", err)
	}
	if h.cmdline != nil {
		for _, p := range []string{"nosoftlockup", "nmi_watchdog"} {
			if _, ok := h.cmdline.get(p); ok {
				ev = append(ev, h.cmdline.param(p))
			}
		}
	}
	evidence := strings.Join(ev, "; ")
	active := on != 0 && (soft != 0 || nmi != 0)
	hit := mask.Intersect(h.spinners)
	if !active || len(hit) == 0 {
		return one(id, OK, "no lockup-detector timer runs on the spinner CPUs", evidence, "")
	}
	fix := []string{"# no housekeeping CPU is left: disable the detectors: sysctl -w kernel.watchdog=0"}
	if len(h.housekeeping) > 0 {
		fix = []string{
			"sysctl -w kernel.watchdog_cpumask=" + h.housekeeping.String(),
			"echo kernel.watchdog_cpumask=" + h.housekeeping.String() + " > /etc/sysctl.d/90-spinwire-watchdog.conf",
		}
	}
	fix = append(fix, "# or disable both detectors everywhere: "+kernelParam("nosoftlockup nmi_watchdog=0"))
	return one(id, Warn, "the lockup watchdog's timer runs on spinner "+cpus(hit)+" every few seconds", evidence, lines(fix...))
}

// checkTHP reads /sys/kernel/mm/transparent_hugepage/enabled. With "always",
// khugepaged collapses pages behind the program's back and faults may stall
// on compaction; "madvise" keeps huge pages for code that asks. ID "thp":
// warn for always, info when missing or garbage, ok for madvise or never.
func checkTHP(h *host) []Finding {
	const id = "thp"
	s, err := readString(h.fsys, thpPath)
	if err != nil {
		return unknown(id, "transparent huge pages", err)
	}
	_, rest, ok1 := strings.Cut(s, "[")
	mode, _, ok2 := strings.Cut(rest, "]")
	if !ok1 || !ok2 || mode == "" {
		return unknown(id, "transparent huge pages", garbage(thpPath, s))
	}
	ev := fmt.Sprintf("/%s = %q", thpPath, s)
	if mode == "always" {
		return one(id, Warn, "transparent huge pages are always on: khugepaged and compaction can stall the process", ev,
			lines("echo madvise > /"+thpPath, "# persistent: "+kernelParam("transparent_hugepage=madvise")))
	}
	return one(id, OK, "transparent huge pages: "+mode, ev, "")
}

// checkNUMABalancing reads /proc/sys/kernel/numa_balancing. Automatic NUMA
// balancing unmaps the process's pages periodically to sample its accesses;
// each touch then takes a page fault. ID "numa-balancing": warn when on, info
// when missing (kernel without NUMA balancing) or garbage, ok when 0.
func checkNUMABalancing(h *host) []Finding {
	const id = "numa-balancing"
	v, err := readInt(h.fsys, sysctlDir+"/numa_balancing")
	if err != nil {
		return unknown(id, "NUMA balancing", err)
	}
	ev := fmt.Sprintf("kernel.numa_balancing = %d", v)
	if v != 0 {
		return one(id, Warn, "automatic NUMA balancing is on: it unmaps pages to sample accesses, and the spinner takes the page faults", ev,
			lines("sysctl -w kernel.numa_balancing=0", "# persistent: "+kernelParam("numa_balancing=disable")))
	}
	return one(id, OK, "automatic NUMA balancing is off", ev, "")
}

// checkSchedRT reads /proc/sys/kernel/sched_rt_runtime_us. It only matters
// for spinners run with a real-time policy (chrt -f): those are throttled
// for the rest of each period once they used the runtime. ID
// "sched-rt-runtime": info when not -1, also when missing or garbage; ok at
// -1.
func checkSchedRT(h *host) []Finding {
	const id = "sched-rt-runtime"
	v, err := readInt(h.fsys, sysctlDir+"/sched_rt_runtime_us")
	if err != nil {
		return unknown(id, "real-time throttling", err)
	}
	ev := fmt.Sprintf("kernel.sched_rt_runtime_us = %d", v)
	if v != -1 {
		return one(id, Info, fmt.Sprintf("real-time tasks are throttled after %d µs per period: matters only if spinners run SCHED_FIFO/SCHED_RR", v), ev,
			lines("sysctl -w kernel.sched_rt_runtime_us=-1", "# only if spinners run with a real-time policy; an RT spinner that never yields can then starve its CPU's kernel threads"))
	}
	return one(id, OK, "real-time throttling is off", ev, "")
}

// checkVMStat reads /proc/sys/vm/stat_interval: every that many seconds a
// vmstat worker folds each CPU's memory counters, on every CPU with
// changes. The kernel quiets it on nohz_full CPUs; elsewhere it wakes the
// spinner. ID "vmstat": warn under 10 s when a spinner CPU is not
// nohz_full, info under 10 s otherwise, info when missing or garbage, ok
// from 10 s.
func checkVMStat(h *host) []Finding {
	const id = "vmstat"
	v, err := readInt(h.fsys, vmStatPath)
	if err != nil {
		return unknown(id, "vmstat interval", err)
	}
	ev := fmt.Sprintf("vm.stat_interval = %d", v)
	if v >= 10 {
		return one(id, OK, fmt.Sprintf("the vmstat worker runs every %d s", v), ev, "")
	}
	fix := lines("sysctl -w vm.stat_interval=10",
		"echo vm.stat_interval=10 > /etc/sysctl.d/90-spinwire-vmstat.conf",
		"# undo: sysctl -w vm.stat_interval=1 and remove the file; cost: /proc/vmstat and free(1) lag by up to 10 s")
	if spinnersTickless(h) {
		return one(id, Info, fmt.Sprintf("the vmstat worker runs every %d s; the kernel quiets it on the nohz_full spinners", v), ev, fix)
	}
	return one(id, Warn, fmt.Sprintf("the vmstat worker wakes every CPU, spinners included, every %d s", v), ev, fix)
}

// checkTimerMigration reads /proc/sys/kernel/timer_migration. When on,
// timers armed by idle CPUs are moved to busy ones — and a spinning CPU is
// never idle. nohz_full CPUs are not chosen. ID "timer_migration": warn
// when on and a spinner CPU is not nohz_full, info when missing or garbage,
// ok otherwise.
func checkTimerMigration(h *host) []Finding {
	const id = "timer_migration"
	if len(h.spinners) == 0 {
		return nil
	}
	v, err := readInt(h.fsys, sysctlDir+"/timer_migration")
	if err != nil {
		return unknown(id, "timer migration", err)
	}
	ev := fmt.Sprintf("kernel.timer_migration = %d", v)
	if v == 0 || spinnersTickless(h) {
		return one(id, OK, "idle CPUs' timers do not migrate to the spinner CPUs", ev, "")
	}
	return one(id, Warn, "idle CPUs' timers may migrate to the spinners, which never look idle", ev, lines(
		"sysctl -w kernel.timer_migration=0",
		"echo kernel.timer_migration=0 > /etc/sysctl.d/90-spinwire-timers.conf",
		"# undo: sysctl -w kernel.timer_migration=1; cost: idle CPUs keep their own timers and wake more often"))
}
