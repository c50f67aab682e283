// Package tuning tells users what on their host stands between a busy-polling
// spinner and the latency the hardware can give, and the exact line that
// fixes each item. The guide that explains the why is tuning/README.md.
//
// Check reads the kernel command line, sysfs and procfs through an fs.FS
// rooted at "/" (so tests run against fixture trees), the processor's
// description (CPU: from github.com/klauspost/cpuid/v2 and asm.InvariantTSC
// on the running host, from /proc/cpuinfo for a tree) and the running Go
// process's settings, and returns one Finding per check with an ID, a
// Severity (ok, info, warn, crit), a summary, the evidence it read and the
// fix: a shell command to copy, a kernel parameter, or a Go line. WriteTable
// and WriteJSON format findings for `pingpong -check` and `-check -json`.
// HostCPU and CPU.String describe the processor for a benchmark report.
// Importing this package links klauspost/cpuid, whose init executes CPUID
// some tens of times: a server that must stay small imports it only in a
// separate check command.
// SpinnerWarnings says, with the exact fix, whether a spinner pinned to a
// CPU will suffer for it: the CPU is not isolated, or it shares its core
// with another spinner. (agent.Agent logs the same two facts, without the
// fix, from its own reads: spin does not import this package.)
//
// # Finding IDs
//
// Each check and what it reads (paths from the root of Options.FS):
//
//	spinner-cpus       the CPUs judged (Options.SpinnerCPUs or the default) exist and are online
//	cmdline            /proc/cmdline could be read
//	isolcpus           spinner CPUs in /sys/devices/system/cpu/isolated (or a cgroup isolated partition)
//	nohz_full          spinner CPUs in /sys/devices/system/cpu/nohz_full
//	rcu_nocbs          spinner CPUs in rcu_nocbs= (or nohz_full, which implies it)
//	mitigations        mitigations=off on the command line
//	idle-poll          idle= on the command line
//	tsc-reliable       tsc=reliable on the command line
//	rcu_nocb_poll      rcu_nocb_poll with offloaded RCU callbacks
//	skew_tick          skew_tick=1 on the command line (warn from 16 online CPUs)
//	kthreads           kthread_cpus= excludes, or nohz_full covers, the spinner CPUs
//	mce                mce=ignore_ce on the command line (x86)
//	audit              audit=0 on the command line
//	cpu                the processor (CPU); no spinner on an efficiency core (/sys/devices/cpu_atom/cpus)
//	smt-shared-core    two spinners on SMT siblings of one core (topology/thread_siblings_list)
//	smt-sibling        a spinner's SMT sibling is online (on a VM, CPU.VM: its host's pairs are hidden)
//	governor           cpuN/cpufreq/scaling_governor of spinner CPUs is performance
//	cpufreq-driver     cpuN/cpufreq/scaling_driver, and energy_performance_preference is performance
//	turbo              intel_pstate/no_turbo or cpufreq/boost (a stated choice: info when on)
//	cstate             cpuN/cpuidle/stateK deeper than DeepCStateLatency µs enabled on spinner CPUs
//	clocksource        clocksource0/current_clocksource is tsc
//	invariant-tsc      CPUID 0x80000007 EDX bit 8, else constant_tsc and nonstop_tsc in /proc/cpuinfo
//	irqaffinity        /proc/irq/default_smp_affinity excludes spinner CPUs
//	irq-on-spinner     /proc/irq/N/smp_affinity_list excludes spinner CPUs (names from /proc/interrupts)
//	workqueue          /sys/devices/virtual/workqueue/cpumask excludes spinner CPUs
//	watchdog           lockup detector timers (/proc/sys/kernel/watchdog*, nmi_watchdog) off the spinner CPUs
//	thp                /sys/kernel/mm/transparent_hugepage/enabled is not always
//	numa-balancing     /proc/sys/kernel/numa_balancing is 0
//	sched-rt-runtime   /proc/sys/kernel/sched_rt_runtime_us is -1
//	vmstat             /proc/sys/vm/stat_interval ≥ 10 (info only on nohz_full spinners)
//	timer_migration    /proc/sys/kernel/timer_migration is 0, or the spinners are nohz_full
//	cpuset             spinner CPUs in this process's cgroup v2 cpuset.cpus.effective (/proc/self/cgroup)
//	container          container cgroups in /proc/self/cgroup or /proc/1/cgroup, or /.dockerenv, /run/.containerenv
//	go-gomaxprocs      GOMAXPROCS ≥ spinners + 2
//	go-asyncpreempt    GODEBUG=asyncpreemptoff=1 (needed only by dedicated spinners)
//	go-gc              GC off with a memory limit
//	go-updatemaxprocs  the automatic GOMAXPROCS update is off
//
// The doc comment of each check function states when it raises each
// severity.
//
// # Missing and garbage files
//
// Nothing Check reads is required. A missing file makes its check return an
// Info finding whose summary says "unknown" and names the file (nohz_full
// says instead that the kernel lacks the feature); checks that need
// /proc/cmdline (rcu_nocbs, rcu_nocb_poll, skew_tick, kthreads, mce, audit, mitigations,
// idle-poll, tsc-reliable) are skipped
// and the "cmdline" finding says so. A file whose content is not what the
// kernel writes gives an Info finding naming the file and quoting the
// content; Check never panics on input.
//
// # Severity and OK findings
//
// Check returns findings of Info and above, worst first; with
// Options.IncludeOK it also returns the checks that passed, so a report can
// show what was checked. Worst gives the highest severity, for an exit code.
package tuning
