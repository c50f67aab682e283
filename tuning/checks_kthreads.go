package tuning

import (
	"fmt"
	"strings"

	"github.com/spinwire/spinwire/affinity"
)

const workqueueMaskPath = "sys/devices/virtual/workqueue/cpumask"

// spinnersTickless reports whether every spinner CPU is in nohz_full (from
// sysfs, else from the command line): the kernel then also keeps unbound
// kernel threads, unbound workqueues and migrated timers off them.
func spinnersTickless(h *host) bool {
	set, _, err := nohzSet(h)
	if err != nil {
		if v, ok := h.cmdline.get("nohz_full"); ok {
			set, _ = affinity.ParseList(v)
		}
	}
	return len(h.spinners) > 0 && len(h.spinners.Minus(set)) == 0
}

// checkSkewTick: skew_tick=1 offsets each CPU's tick so that they do not
// all fire, and contend for the same locks, at the same instant. Skipped
// without /proc/cmdline. ID "skew_tick": ok with skew_tick=1; otherwise
// warn on hosts of 16 CPUs or more, info below (few ticks to collide).
func checkSkewTick(h *host) []Finding {
	const id = "skew_tick"
	if h.cmdline == nil {
		return nil
	}
	ev := h.cmdline.param("skew_tick") + fmt.Sprintf("; %d CPUs online", len(h.online))
	if v, _ := h.cmdline.get("skew_tick"); v == "1" {
		return one(id, OK, "the CPUs' ticks are skewed", ev, "")
	}
	sev, sum := Info, "the ticks of all CPUs fire together (no skew_tick=1); on a small host few collide"
	if len(h.online) >= 16 {
		sev, sum = Warn, "the ticks of all CPUs fire together (no skew_tick=1): on a large host they contend for the same locks"
	}
	return one(id, sev, sum, ev, kernelParam("skew_tick=1"))
}

// checkKthreads: unbound kernel threads run only on the housekeeping CPUs
// given by kthread_cpus=, and never on nohz_full CPUs. Skipped without
// /proc/cmdline. ID "kthreads": warn when they may run on a spinner CPU,
// ok otherwise.
func checkKthreads(h *host) []Finding {
	const id = "kthreads"
	if h.cmdline == nil || len(h.spinners) == 0 {
		return nil
	}
	ev := h.cmdline.param("kthread_cpus") + "; " + h.cmdline.param("nohz_full")
	if spinnersTickless(h) {
		return one(id, OK, "unbound kernel threads stay off the spinner CPUs (nohz_full)", ev, "")
	}
	if v, ok := h.cmdline.get("kthread_cpus"); ok {
		if set, err := affinity.ParseList(v); err == nil && len(set.Intersect(h.spinners)) == 0 {
			return one(id, OK, "unbound kernel threads stay off the spinner CPUs (kthread_cpus)", ev, "")
		}
	}
	fix := "# no housekeeping CPU is left for kernel threads"
	if len(h.housekeeping) > 0 {
		fix = kernelParam("kthread_cpus=" + h.housekeeping.String())
	}
	return one(id, Warn, "unbound kernel threads may run on spinner "+cpus(h.spinners), ev, fix)
}

// checkWorkqueue reads the unbound workqueues' CPU mask. Work queued there
// (writeback, memory reclaim helpers, …) runs on any CPU in the mask. ID
// "workqueue": warn when it includes a spinner CPU, info when the file is
// missing or garbage, ok otherwise.
func checkWorkqueue(h *host) []Finding {
	const id = "workqueue"
	if len(h.spinners) == 0 {
		return nil
	}
	s, err := readString(h.fsys, workqueueMaskPath)
	if err != nil {
		return unknown(id, "unbound workqueue CPUs", err)
	}
	mask, err := parseMask(s)
	if err != nil {
		return unknown(id, "unbound workqueue CPUs", garbage(workqueueMaskPath, s))
	}
	ev := fmt.Sprintf("/%s = %q (CPUs %s)", workqueueMaskPath, s, mask.String())
	hit := mask.Intersect(h.spinners)
	if len(hit) == 0 {
		return one(id, OK, "unbound workqueues stay off the spinner CPUs", ev, "")
	}
	if len(h.housekeeping) == 0 {
		return one(id, Warn, "unbound workqueues may run on spinner "+cpus(hit), ev, "# no housekeeping CPU is left for them")
	}
	hk := h.housekeeping
	return one(id, Warn, "unbound workqueues may run on spinner "+cpus(hit), ev, lines(
		"echo "+formatMask(hk)+" > /"+workqueueMaskPath,
		"# persistent (Linux 6.6 and later): "+kernelParam("workqueue.unbound_cpus="+hk.String()),
		"# undo: echo "+formatMask(h.online)+" > /"+workqueueMaskPath))
}

// checkRCUNocbPoll: with RCU callbacks offloaded (rcu_nocbs= or nohz_full=),
// rcu_nocb_poll makes the rcuo kthreads poll for callbacks instead of
// being woken from the offloaded CPUs. Skipped without /proc/cmdline or
// without offloading. ID "rcu_nocb_poll": info without it, ok with it.
func checkRCUNocbPoll(h *host) []Finding {
	const id = "rcu_nocb_poll"
	if h.cmdline == nil {
		return nil
	}
	_, nocbs := h.cmdline.get("rcu_nocbs")
	_, nohz := h.cmdline.get("nohz_full")
	if !nocbs && !nohz {
		return nil
	}
	ev := strings.Join([]string{h.cmdline.param("rcu_nocbs"), h.cmdline.param("nohz_full"), h.cmdline.param("rcu_nocb_poll")}, "; ")
	if _, ok := h.cmdline.get("rcu_nocb_poll"); ok {
		return one(id, OK, "offloaded RCU callbacks are polled for by the rcuo threads", ev, "")
	}
	return one(id, Info, "the offloaded CPUs still wake the rcuo threads for each batch of RCU callbacks (no rcu_nocb_poll)", ev,
		lines(kernelParam("rcu_nocb_poll"), "# cost: the rcuo threads wake every jiffy on the housekeeping CPUs, polling"))
}

// checkMCE: the machine-check poll timer reads each CPU's corrected-error
// banks every few minutes (check_interval, 300 s). mce=ignore_ce turns the
// polling and corrected-error reporting off. x86 only; skipped without
// /proc/cmdline. ID "mce": info without it, ok with it.
func checkMCE(h *host) []Finding {
	const id = "mce"
	if h.cmdline == nil || (h.cpu.Vendor != "" && h.cpu.Vendor != "GenuineIntel" && h.cpu.Vendor != "AuthenticAMD") {
		return nil
	}
	ev := h.cmdline.param("mce")
	if v, _ := h.cmdline.get("mce"); strings.Contains(v, "ignore_ce") {
		return one(id, OK, "corrected machine-check errors are not polled", ev, "")
	}
	return one(id, Info, "the machine-check poll timer visits every CPU, spinners included, every few minutes", ev,
		lines(kernelParam("mce=ignore_ce"), "# cost: corrected memory and cache errors are no longer logged, the early warning of failing hardware"))
}

// checkAudit: with kernel auditing on and rules loaded, every system call
// pays the audit hooks. Spinners make few system calls, so this is about
// the rest of the process. Skipped without /proc/cmdline. ID "audit": info
// unless audit=0, ok with it.
func checkAudit(h *host) []Finding {
	const id = "audit"
	if h.cmdline == nil {
		return nil
	}
	ev := h.cmdline.param("audit")
	if v, _ := h.cmdline.get("audit"); v == "0" || v == "off" {
		return one(id, OK, "kernel auditing is off", ev, "")
	}
	return one(id, Info, "kernel auditing may be on: with rules loaded, every system call pays its hooks", ev,
		lines("# check: auditctl -s; auditctl -l", kernelParam("audit=0"), "# cost: no audit trail; a security policy may require one"))
}
