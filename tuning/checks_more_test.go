package tuning

import "testing"

// The checklist's later items: each finding raised by one fixture and not
// by another.

// big is base on a 32-CPU host.
var big = mfs(online, "0-31", iso, "2-3", cmdl, "ro quiet")

func TestSkewTick(t *testing.T) {
	runCases(t, []tcase{
		{name: "absent_small", fsys: base, id: "skew_tick", want: Info, contains: []string{"no skew_tick=", "4 CPUs online", "skew_tick=1"}},
		{name: "absent_large", fsys: big, id: "skew_tick", want: Warn, contains: []string{"32 CPUs online", "kernel parameter: skew_tick=1"}},
		{name: "present", fsys: with(big, cmdl, "ro skew_tick=1"), id: "skew_tick", want: OK},
		{name: "no_cmdline", fsys: mfs(online, "0-3"), id: "skew_tick", absent: true},
	})
}

func TestKthreads(t *testing.T) {
	runCases(t, []tcase{
		{name: "free", fsys: base, id: "kthreads", want: Warn, contains: []string{"may run on spinner CPUs 2-3", "kthread_cpus=0-1"}},
		{name: "kthread_cpus", fsys: with(base, cmdl, "kthread_cpus=0-1"), id: "kthreads", want: OK, contains: []string{"kthread_cpus=0-1"}},
		{name: "kthread_cpus_overlap", fsys: with(base, cmdl, "kthread_cpus=0-2"), id: "kthreads", want: Warn},
		{name: "nohz_full", fsys: with(base, cmdl, "nohz_full=2-3", nohz, "2-3"), id: "kthreads", want: OK, contains: []string{"(nohz_full)"}},
	})
}

func TestWorkqueue(t *testing.T) {
	const wq = "sys/devices/virtual/workqueue/cpumask"
	runCases(t, []tcase{
		{name: "on_spinners", fsys: with(base, wq, "f"), id: "workqueue", want: Warn,
			contains: []string{"spinner CPUs 2-3", "echo 3 > /sys/devices/virtual/workqueue/cpumask", "workqueue.unbound_cpus=0-1", "undo: echo f"}},
		{name: "housekeeping_only", fsys: with(base, wq, "3"), id: "workqueue", want: OK},
		{name: "missing", fsys: base, id: "workqueue", want: Info, contains: []string{"not found"}},
		{name: "garbage", fsys: with(base, wq, "xyz"), id: "workqueue", want: Info, contains: []string{"unexpected content"}},
	})
}

func TestRCUNocbPoll(t *testing.T) {
	runCases(t, []tcase{
		{name: "offloaded_not_polled", fsys: with(base, cmdl, "rcu_nocbs=2-3"), id: "rcu_nocb_poll", want: Info, contains: []string{"kernel parameter: rcu_nocb_poll"}},
		{name: "polled", fsys: with(base, cmdl, "nohz_full=2-3 rcu_nocb_poll"), id: "rcu_nocb_poll", want: OK},
		{name: "no_offload", fsys: base, id: "rcu_nocb_poll", absent: true},
	})
}

func TestMCEAndAudit(t *testing.T) {
	runCases(t, []tcase{
		{name: "mce_polled", fsys: base, id: "mce", want: Info, contains: []string{"mce=ignore_ce", "no longer logged"}},
		{name: "mce_ignored", fsys: with(base, cmdl, "mce=ignore_ce"), id: "mce", want: OK},
		{name: "mce_not_x86", fsys: base, cpu: &CPU{Vendor: "Arm Limited"}, id: "mce", absent: true},
		{name: "audit_on", fsys: base, id: "audit", want: Info, contains: []string{"audit=0", "auditctl -s"}},
		{name: "audit_off", fsys: with(base, cmdl, "audit=0"), id: "audit", want: OK},
	})
}

func TestVMStatAndTimerMigration(t *testing.T) {
	const vm, tm = "proc/sys/vm/stat_interval", kernel + "timer_migration"
	tickless := with(base, nohz, "2-3")
	runCases(t, []tcase{
		{name: "vmstat_1s", fsys: with(base, vm, "1"), id: "vmstat", want: Warn, contains: []string{"sysctl -w vm.stat_interval=10", "undo"}},
		{name: "vmstat_1s_tickless", fsys: with(tickless, vm, "1"), id: "vmstat", want: Info, contains: []string{"quiets it"}},
		{name: "vmstat_10s", fsys: with(base, vm, "10"), id: "vmstat", want: OK},
		{name: "vmstat_missing", fsys: base, id: "vmstat", want: Info},
		{name: "timers_migrate", fsys: with(base, tm, "1"), id: "timer_migration", want: Warn, contains: []string{"kernel.timer_migration=0"}},
		{name: "timers_migrate_tickless", fsys: with(tickless, tm, "1"), id: "timer_migration", want: OK},
		{name: "timers_stay", fsys: with(base, tm, "0"), id: "timer_migration", want: OK},
	})
}

func TestFreqDriverAndTurbo(t *testing.T) {
	const drv, epp = cpu2 + "cpufreq/scaling_driver", cpu2 + "cpufreq/energy_performance_preference"
	runCases(t, []tcase{
		{name: "epp_balanced", fsys: with(base, drv, "amd-pstate-epp", epp, "balance_performance"), id: "cpufreq-driver", want: Warn,
			contains: []string{"amd-pstate-epp", "echo performance > /sys/devices/system/cpu/cpu3/cpufreq/energy_performance_preference", "undo: echo balance_performance"}},
		{name: "epp_performance", fsys: with(base, drv, "intel_pstate", epp, "performance"), id: "cpufreq-driver", want: OK},
		{name: "no_epp", fsys: with(base, drv, "acpi-cpufreq"), id: "cpufreq-driver", want: OK, contains: []string{"acpi-cpufreq"}},
		{name: "vm", fsys: base, id: "cpufreq-driver", want: Info, contains: []string{"hypervisor"}},
		{name: "turbo_on", fsys: with(base, cpuDir+"/intel_pstate/no_turbo", "0"), id: "turbo", want: Info, contains: []string{"echo 1 > /sys/devices/system/cpu/intel_pstate/no_turbo"}},
		{name: "turbo_off", fsys: with(base, cpuDir+"/intel_pstate/no_turbo", "1"), id: "turbo", want: OK},
		{name: "boost_on", fsys: with(base, cpuDir+"/cpufreq/boost", "1"), id: "turbo", want: Info, contains: []string{"echo 0 > /sys/devices/system/cpu/cpufreq/boost"}},
		{name: "boost_off", fsys: with(base, cpuDir+"/cpufreq/boost", "0"), id: "turbo", want: OK},
		{name: "unknown", fsys: base, id: "turbo", absent: true},
	})
}

func TestCpusetAndContainer(t *testing.T) {
	cg := with(base, "proc/self/cgroup", "0::/docker/abc")
	runCases(t, []tcase{
		{name: "outside", fsys: with(cg, "sys/fs/cgroup/docker/abc/cpuset.cpus.effective", "0-2"), id: "cpuset", want: Crit,
			contains: []string{"CPU 3 is outside", "--cpuset-cpus=2-3", "cpu-manager-policy=static"}},
		{name: "inside", fsys: with(cg, "sys/fs/cgroup/docker/abc/cpuset.cpus.effective", "0-3"), id: "cpuset", want: OK},
		{name: "v1", fsys: with(base, "proc/self/cgroup", "4:cpuset:/"), id: "cpuset", want: Info, contains: []string{"no cgroup v2 entry"}},
		{name: "container_by_cgroup", fsys: cg, id: "container", want: Info, contains: []string{"mentions \"docker\"", "the host's", "--shm-size does not limit them"}},
		{name: "container_by_marker", fsys: with(base, "run/.containerenv", ""), id: "container", want: Info, contains: []string{"/run/.containerenv exists", "maybe in a container"}},
		{name: "root_cgroup", fsys: with(base, "proc/self/cgroup", "0::/"), id: "cpuset", want: OK, contains: []string{"root cgroup"}},
		{name: "host", fsys: with(base, "proc/self/cgroup", "0::/user.slice/session-1.scope"), id: "container", want: OK},
	})
}
