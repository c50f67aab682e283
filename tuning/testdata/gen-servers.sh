#!/bin/sh
# gen-servers.sh — regenerate the two synthetic server fixtures:
#
#	tuned-server       spinners on isolated CPUs 2-7, everything in tuning/README.md done
#	half-tuned-server  isolcpus/nohz_full set, but IRQs, SMT siblings, governor,
#	                   C-states, THP, NUMA balancing and the watchdog left alone
#
# Both describe one machine, the guide's worked example: two Xeon Gold 6244
# (8 cores, 2 threads each), Intel numbering: CPUs 0-7 and 16-23 on socket 0,
# 8-15 and 24-31 on socket 1, CPU n and n+16 SMT siblings; a ConnectX NIC
# (mlx5, 16 completion IRQs) and the boot disk (ahci) on socket 0.
#
# The files have the shapes Linux 6.8 gives them. Run from anywhere:
#	sh tuning/testdata/gen-servers.sh
set -eu
cd "$(dirname "$0")"

w() { mkdir -p "$(dirname "$1")"; printf '%s\n' "$2" > "$1"; } # w FILE CONTENT
sib() { if [ "$1" -lt 16 ]; then echo "$1,$(($1 + 16))"; else echo "$(($1 - 16)),$1"; fi; }

FLAGS="fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush dts acpi mmx fxsr sse sse2 ss ht tm pbe syscall nx pdpe1gb rdtscp lm constant_tsc art arch_perfmon pebs bts rep_good nopl xtopology nonstop_tsc cpuid aperfmperf pni pclmulqdq dtes64 monitor ds_cpl vmx smx est tm2 ssse3 sdbg fma cx16 xtpr pdcm pcid dca sse4_1 sse4_2 x2apic movbe popcnt tsc_deadline_timer aes xsave avx f16c rdrand lahf_lm abm 3dnowprefetch ssbd mba ibrs ibpb stibp fsgsbase tsc_adjust bmi1 avx2 smep bmi2 erms invpcid avx512f avx512dq rdseed adx smap clflushopt clwb intel_pt avx512cd avx512bw avx512vl xsaveopt xsavec xgetbv1 xsaves arat pln pts pku ospke avx512_vnni md_clear flush_l1d arch_capabilities"

# gen DIR — writes the tree from the variables set by the caller:
#   ONLINE (space-separated CPUs), ONLINE_LIST, ISOLATED, NOHZ, CMDLINE,
#   GOV (function: cpu → governor), STATES ("name:latency ..."), IRQS
#   ("irq|chip|hwirq|name|affinity|effective ..."), DEFAULT_AFF (hex),
#   WATCHDOG SOFT NMI WD_MASK NUMA RT THP, WQ_MASK (hex), STAT_INTERVAL,
#   TIMER_MIG, EPP, NO_TURBO
gen() {
	d=$1
	rm -rf "$d"
	c=$d/sys/devices/system/cpu
	w "$d/proc/cmdline" "$CMDLINE"
	w "$c/online" "$ONLINE_LIST"
	w "$c/isolated" "$ISOLATED"
	w "$c/nohz_full" "$NOHZ"
	w "$c/smt/control" "on"
	w "$c/cpuidle/current_driver" "intel_idle"
	: > "$d/cpuinfo.tmp"
	for n in $ONLINE; do
		w "$c/cpu$n/topology/thread_siblings_list" "$(SIBS "$n")"
		w "$c/cpu$n/topology/core_cpus_list" "$(SIBS "$n")"
		w "$c/cpu$n/cpufreq/scaling_governor" "$(GOV "$n")"
		w "$c/cpu$n/cpufreq/scaling_driver" "intel_pstate"
		w "$c/cpu$n/cpufreq/energy_performance_preference" "$EPP"
		k=0
		for s in $STATES; do
			w "$c/cpu$n/cpuidle/state$k/name" "${s%%:*}"
			w "$c/cpu$n/cpuidle/state$k/latency" "${s##*:}"
			w "$c/cpu$n/cpuidle/state$k/disable" "0"
			k=$((k + 1))
		done
		printf 'processor\t: %s\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Xeon(R) Gold 6244 CPU @ 3.60GHz\nflags\t\t: %s\n\n' "$n" "$FLAGS" >> "$d/cpuinfo.tmp"
	done
	mkdir -p "$d/proc"
	mv "$d/cpuinfo.tmp" "$d/proc/cpuinfo"

	{
		printf '    '
		for n in $ONLINE; do printf '%11s' "CPU$n"; done
		printf '\n'
		for q in $IRQS; do
			irq=${q%%|*}; r=${q#*|}
			chip=${r%%|*}; r=${r#*|}
			hw=${r%%|*}; r=${r#*|}
			name=${r%%|*}; r=${r#*|}
			aff=${r%%|*}; eff=${r#*|}
			w "$d/proc/irq/$irq/smp_affinity_list" "$aff"
			w "$d/proc/irq/$irq/effective_affinity_list" "$eff"
			printf '%4s:' "$irq"
			for n in $ONLINE; do
				if [ "$n" = "$eff" ]; then printf ' %10d' $((irq * 1000 + 17)); else printf ' %10d' 0; fi
			done
			printf '  %s %s  %s\n' "$chip" "$hw" "$name"
		done
		printf ' NMI:'; for n in $ONLINE; do printf ' %10d' 12; done; printf '   Non-maskable interrupts\n'
		printf ' LOC:'; for n in $ONLINE; do printf ' %10d' 4000; done; printf '   Local timer interrupts\n'
	} > "$d/interrupts.tmp"
	mv "$d/interrupts.tmp" "$d/proc/interrupts"
	w "$d/proc/irq/default_smp_affinity" "$DEFAULT_AFF"

	k=$d/proc/sys/kernel
	w "$k/watchdog" "$WATCHDOG"
	w "$k/soft_watchdog" "$SOFT"
	w "$k/nmi_watchdog" "$NMI"
	w "$k/watchdog_cpumask" "$WD_MASK"
	w "$k/numa_balancing" "$NUMA"
	w "$k/sched_rt_runtime_us" "$RT"
	w "$d/sys/kernel/mm/transparent_hugepage/enabled" "$THP"
	w "$k/timer_migration" "$TIMER_MIG"
	w "$d/proc/sys/vm/stat_interval" "$STAT_INTERVAL"
	w "$d/sys/devices/virtual/workqueue/cpumask" "$WQ_MASK"
	w "$c/intel_pstate/no_turbo" "$NO_TURBO"
	w "$d/proc/self/cgroup" "0::/system.slice/spinner.service"
	w "$d/sys/fs/cgroup/system.slice/spinner.service/cpuset.cpus.effective" "$ONLINE_LIST"
	w "$d/sys/devices/system/clocksource/clocksource0/current_clocksource" "tsc"
	w "$d/sys/devices/system/clocksource/clocksource0/available_clocksource" "tsc hpet acpi_pm "
}

# irqs HOUSEKEEPING... — the host's IRQs; mlx5 completion IRQ k goes to the
# k-th CPU of the list given (one CPU each, as the mlx5 driver spreads them).
irqs() {
	set -- "$@"
	out="0|IO-APIC|2-edge|timer|$ALL_AFF|0 8|IO-APIC|8-edge|rtc0|$ALL_AFF|0 9|IO-APIC|9-fasteoi|acpi|$ALL_AFF|1"
	out="$out 27|IR-PCI-MSI|376832-edge|ahci[0000:00:17.0]|$ALL_AFF|1"
	k=0
	while [ $k -lt 16 ]; do
		eval "cpu=\${$((k % $# + 1))}"
		out="$out $((100 + k))|IR-PCI-MSIX-0000:3b:00.0|$((k + 1))-edge|mlx5_comp$k@pci:0000:3b:00.0|$cpu|$cpu"
		k=$((k + 1))
	done
	echo "$out"
}

# --- tuned-server: spinners on 2-7, their siblings 18-23 offline.
ONLINE="0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 24 25 26 27 28 29 30 31"
ONLINE_LIST="0-17,24-31"
HK="0-1,8-17,24-31"
ISOLATED="2-7"
NOHZ="2-7"
CMDLINE="BOOT_IMAGE=/boot/vmlinuz-6.8.0-45-generic root=UUID=3f1c9a2e-7d4b-4c1e-9a6f-2b8e5d0c7a11 ro isolcpus=managed_irq,domain,2-7 nohz_full=2-7 rcu_nocbs=2-7 rcu_nocb_poll kthread_cpus=$HK skew_tick=1 irqaffinity=$HK nosoftlockup nmi_watchdog=0 mce=ignore_ce audit=0 tsc=reliable intel_idle.max_cstate=1 processor.max_cstate=1 transparent_hugepage=madvise numa_balancing=disable quiet"
SIBS() { case $1 in 2|3|4|5|6|7) echo "$1" ;; *) sib "$1" ;; esac; }
GOV() { echo performance; }
STATES="POLL:0 C1:2"
ALL_AFF=$HK
IRQS=$(irqs 0 1 8 9 10 11 12 13 14 15 16 17)
DEFAULT_AFF="ff03ff03"
WATCHDOG=1 SOFT=0 NMI=0 WD_MASK=$HK NUMA=0 RT=-1
THP="always [madvise] never"
WQ_MASK="ff03ff03" STAT_INTERVAL=10 TIMER_MIG=0 EPP=performance NO_TURBO=1
gen tuned-server

# --- half-tuned-server: the same machine after "isolcpus=2-7 nohz_full=2-7"
# and nothing else.
ONLINE="0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31"
ONLINE_LIST="0-31"
CMDLINE="BOOT_IMAGE=/boot/vmlinuz-6.8.0-45-generic root=UUID=3f1c9a2e-7d4b-4c1e-9a6f-2b8e5d0c7a11 ro isolcpus=2-7 nohz_full=2-7 quiet splash"
SIBS() { sib "$1"; }
GOV() { if [ "$1" -lt 4 ]; then echo performance; else echo powersave; fi; }
STATES="POLL:0 C1:2 C1E:10 C6:170"
ALL_AFF="0-31"
IRQS=$(irqs 0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15)
DEFAULT_AFF="ffffffff"
WATCHDOG=1 SOFT=1 NMI=1 WD_MASK="0-31" NUMA=1 RT=950000
THP="[always] madvise never"
WQ_MASK="ffffff03" STAT_INTERVAL=1 TIMER_MIG=1 EPP=balance_performance NO_TURBO=0
gen half-tuned-server
