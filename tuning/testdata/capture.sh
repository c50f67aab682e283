#!/bin/sh
# capture.sh DIR — copy the files tuning.Check reads from this host into DIR,
# keeping their paths (DIR/proc/cmdline, DIR/sys/devices/system/cpu/online,
# ...), so that a host can be checked later or attached to a bug report:
#
#	sh tuning/testdata/capture.sh /tmp/myhost
#	# then in Go: tuning.Check(tuning.Options{FS: os.DirFS("/tmp/myhost")})
#
# Files that do not exist or cannot be read are left out, as Check expects.
# Run as root to include everything (some /proc/irq files are root-only).
set -eu
out=${1:?usage: capture.sh DIR}

copy() {
	for f in "$@"; do
		[ -f "$f" ] && [ -r "$f" ] || continue
		mkdir -p "$out$(dirname "$f")"
		cat "$f" > "$out$f" 2>/dev/null || rm -f "$out$f"
	done
}

cpu=/sys/devices/system/cpu
copy /proc/cmdline /proc/cpuinfo /proc/interrupts /proc/irq/default_smp_affinity
copy /proc/irq/*/smp_affinity_list /proc/irq/*/effective_affinity_list
for k in watchdog soft_watchdog nmi_watchdog watchdog_cpumask numa_balancing sched_rt_runtime_us; do
	copy /proc/sys/kernel/$k
done
copy $cpu/online $cpu/isolated $cpu/nohz_full $cpu/smt/control $cpu/cpuidle/current_driver
copy $cpu/cpu[0-9]*/topology/thread_siblings_list $cpu/cpu[0-9]*/topology/core_cpus_list
copy $cpu/cpu[0-9]*/cpufreq/scaling_governor
copy $cpu/cpu[0-9]*/cpuidle/state[0-9]*/name $cpu/cpu[0-9]*/cpuidle/state[0-9]*/latency $cpu/cpu[0-9]*/cpuidle/state[0-9]*/disable
copy /sys/kernel/mm/transparent_hugepage/enabled
copy /sys/devices/system/clocksource/clocksource0/current_clocksource /sys/devices/system/clocksource/clocksource0/available_clocksource
copy /sys/fs/cgroup/cpuset.cpus.isolated
copy /sys/devices/cpu_atom/cpus /sys/devices/cpu_core/cpus
