package tuning

import (
	"io/fs"
	"maps"
	"strings"
	"testing"
	"testing/fstest"
)

// mfs builds a MapFS from path, content pairs; each content gets the
// newline the kernel writes.
func mfs(kv ...string) fstest.MapFS {
	m := fstest.MapFS{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = &fstest.MapFile{Data: []byte(kv[i+1] + "\n")}
	}
	return m
}

// with returns a copy of base with more files.
func with(base fstest.MapFS, kv ...string) fstest.MapFS {
	m := fstest.MapFS{}
	maps.Copy(m, base)
	maps.Copy(m, mfs(kv...))
	return m
}

func dir() *fstest.MapFile { return &fstest.MapFile{Mode: fs.ModeDir | 0o755} }

const (
	online  = "sys/devices/system/cpu/online"
	iso     = "sys/devices/system/cpu/isolated"
	nohz    = "sys/devices/system/cpu/nohz_full"
	cmdl    = "proc/cmdline"
	kernel  = "proc/sys/kernel/"
	cpu2    = "sys/devices/system/cpu/cpu2/"
	cpu3    = "sys/devices/system/cpu/cpu3/"
	srcPath = "sys/devices/system/clocksource/clocksource0/"
)

// four CPUs, 2 and 3 isolated: the default spinners are 2-3.
var base = mfs(online, "0-3", iso, "2-3", cmdl, "ro quiet")

type tcase struct {
	name     string
	fsys     fstest.MapFS
	spinners []int
	cpu      *CPU // Options.CPU; nil: the tree's /proc/cpuinfo
	id       string
	want     Severity
	absent   bool     // the ID must not be returned
	contains []string // each must appear in summary, evidence or fix
}

func runCases(t *testing.T, cases []tcase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := goodGo
			got := byID(t, Check(Options{FS: tc.fsys, SpinnerCPUs: tc.spinners, Runtime: &g, CPU: tc.cpu, IncludeOK: true}))
			f, ok := got[tc.id]
			if tc.absent {
				if ok {
					t.Fatalf("%s returned: %+v", tc.id, f)
				}
				return
			}
			if !ok {
				t.Fatalf("%s missing", tc.id)
			}
			if f.Severity != tc.want {
				t.Errorf("%s: severity %v, want %v\nsummary: %s\nevidence: %s\nfix: %s", tc.id, f.Severity, tc.want, f.Summary, f.Evidence, f.Fix)
			}
			all := f.Summary + "\n" + f.Evidence + "\n" + f.Fix
			for _, w := range tc.contains {
				if !strings.Contains(all, w) {
					t.Errorf("%s: %q not in\n%s", tc.id, w, all)
				}
			}
		})
	}
}

func TestSpinnerCPUs(t *testing.T) {
	runCases(t, []tcase{
		{name: "empty_fs", fsys: fstest.MapFS{}, id: "spinner-cpus", want: Info, contains: []string{"no spinner CPU to check"}},
		{name: "isolated_default", fsys: base, id: "spinner-cpus", want: Info, contains: []string{"CPUs 2-3", "the isolated CPUs"}},
		{name: "online_default", fsys: mfs(online, "0-3"), id: "spinner-cpus", want: Info, contains: []string{"CPUs 1-3", "except 0"}},
		{name: "single_cpu", fsys: mfs(online, "0"), id: "spinner-cpus", want: Info, contains: []string{"CPU 0", "the only online CPU"}},
		{name: "online_from_cpu_dirs", fsys: fstest.MapFS{
			"sys/devices/system/cpu/cpu0": dir(), "sys/devices/system/cpu/cpu1": dir(), "sys/devices/system/cpu/cpufreq": dir(),
			"sys/devices/system/cpu/cpu99999": dir(),
		}, id: "spinner-cpus", want: Info, contains: []string{"CPU 1", "not found; taken from the cpuN directories"}},
		{name: "online_garbage", fsys: mfs(online, "zero-three", "sys/devices/system/cpu/cpu0/x", "", "sys/devices/system/cpu/cpu1/x", ""),
			id: "spinner-cpus", want: Info, contains: []string{"unexpected content \"zero-three\""}},
		{name: "given_empty_is_default", fsys: base, spinners: []int{}, id: "spinner-cpus", want: Info, contains: []string{"CPUs 2-3", "the isolated CPUs"}},
		{name: "given_ok", fsys: base, spinners: []int{3, 2, 3}, id: "spinner-cpus", want: OK, contains: []string{"CPUs 2-3 are online"}},
		{name: "given_offline", fsys: base, spinners: []int{2, 9}, id: "spinner-cpus", want: Crit,
			contains: []string{"CPU 9 is not online", "echo 1 > /sys/devices/system/cpu/cpu9/online"}},
		{name: "given_cpu0", fsys: base, spinners: []int{0}, id: "spinner-cpus", want: Warn, contains: []string{"among 2-3"}},
		{name: "given_cpu0_no_isolation", fsys: mfs(online, "0-3"), spinners: []int{0}, id: "spinner-cpus", want: Warn, contains: []string{"among 1-3"}},
	})
}

func TestCmdlineChecks(t *testing.T) {
	noCmd := mfs(online, "0-3", iso, "2-3")
	runCases(t, []tcase{
		{name: "cmdline_missing", fsys: noCmd, id: "cmdline", want: Info, contains: []string{"/proc/cmdline not found", "skipped"}},
		{name: "cmdline_ok", fsys: base, id: "cmdline", want: OK, contains: []string{"ro quiet"}},
		{name: "init_args_omitted", fsys: with(base, cmdl, "ro -- init args"), id: "cmdline", want: OK, contains: []string{"ro -- (arguments for init omitted)"}},
		{name: "rcu_skipped_without_cmdline", fsys: noCmd, id: "rcu_nocbs", absent: true},
		{name: "mitigations_skipped_without_cmdline", fsys: noCmd, id: "mitigations", absent: true},
		{name: "idle_skipped_without_cmdline", fsys: noCmd, id: "idle-poll", absent: true},
		{name: "tsc_skipped_without_cmdline", fsys: noCmd, id: "tsc-reliable", absent: true},

		{name: "isolcpus_ok", fsys: with(base, cmdl, "isolcpus=nohz,domain,managed_irq,2-3"), id: "isolcpus", want: OK},
		{name: "isolcpus_ok_without_param", fsys: base, id: "isolcpus", want: OK},
		{name: "isolcpus_no_managed_irq", fsys: with(base, cmdl, "isolcpus=2-3"), id: "isolcpus", want: Info,
			contains: []string{"lacks managed_irq", "kernel parameter: isolcpus=managed_irq,domain,2-3"}},
		{name: "isolcpus_missing_spinner", fsys: with(base, cmdl, "isolcpus=nohz,2-3"), spinners: []int{1, 2}, id: "isolcpus", want: Warn,
			contains: []string{"CPU 1 is not isolated", "isolcpus=managed_irq,domain,nohz,1-3", "Isolation without a reboot"}},
		{name: "isolcpus_sysfs_missing_param_fallback", fsys: mfs(online, "0-3", cmdl, "isolcpus=2-3"), spinners: []int{2, 3}, id: "isolcpus", want: Info,
			contains: []string{"/sys/devices/system/cpu/isolated not found"}},
		{name: "isolcpus_sysfs_missing_param_not_covering", fsys: mfs(online, "0-3", cmdl, "isolcpus=2"), spinners: []int{2, 3}, id: "isolcpus", want: Warn},
		{name: "isolcpus_unknown", fsys: mfs(online, "0-3", cmdl, "ro"), spinners: []int{2}, id: "isolcpus", want: Info, contains: []string{"isolated CPUs unknown"}},
		{name: "isolcpus_sysfs_garbage", fsys: with(base, iso, "2-x"), spinners: []int{2}, id: "isolcpus", want: Info, contains: []string{"/sys/devices/system/cpu/isolated: unexpected content \"2-x\""}},
		{name: "isolcpus_cgroup_partition", fsys: with(base, iso, "", "sys/fs/cgroup/cpuset.cpus.isolated", "2-3"), id: "isolcpus", want: OK,
			contains: []string{"cpuset.cpus.isolated = \"2-3\""}},
		{name: "isolcpus_cgroup_only_sysfs_missing", fsys: mfs(online, "0-3", "sys/fs/cgroup/cpuset.cpus.isolated", "3"), id: "isolcpus", want: OK},
		{name: "isolcpus_cgroup_only_not_covering", fsys: mfs(online, "0-3", "sys/fs/cgroup/cpuset.cpus.isolated", "3"), spinners: []int{2, 3}, id: "isolcpus", want: Warn},
		{name: "isolcpus_no_spinners", fsys: fstest.MapFS{}, id: "isolcpus", absent: true},

		{name: "nohz_ok", fsys: with(base, nohz, "2-3"), id: "nohz_full", want: OK},
		{name: "nohz_null", fsys: with(base, nohz, "(null)"), id: "nohz_full", want: Warn, contains: []string{"CPUs 2-3 keep the scheduler tick", "kernel parameter: nohz_full=2-3"}},
		{name: "nohz_partial", fsys: with(base, nohz, "2", cmdl, "nohz_full=2"), id: "nohz_full", want: Warn, contains: []string{"CPU 3 keeps", "nohz_full=2-3", "nohz_full=2"}},
		{name: "nohz_missing", fsys: base, id: "nohz_full", want: Info, contains: []string{"CONFIG_NO_HZ_FULL", "grep NO_HZ_FULL="}},
		{name: "nohz_garbage", fsys: with(base, nohz, "two"), id: "nohz_full", want: Info, contains: []string{"unexpected content \"two\""}},
		{name: "nohz_no_spinners", fsys: fstest.MapFS{}, id: "nohz_full", absent: true},

		{name: "rcu_param", fsys: with(base, cmdl, "rcu_nocbs=2-3"), id: "rcu_nocbs", want: OK},
		{name: "rcu_all", fsys: with(base, cmdl, "rcu-nocbs=all"), id: "rcu_nocbs", want: OK},
		{name: "rcu_via_nohz_sysfs", fsys: with(base, nohz, "2-3"), id: "rcu_nocbs", want: OK, contains: []string{"nohz_full CPUs are offloaded too"}},
		{name: "rcu_via_nohz_param", fsys: with(base, cmdl, "nohz_full=2-3"), id: "rcu_nocbs", want: OK},
		{name: "rcu_via_isolcpus_nohz", fsys: with(base, cmdl, "isolcpus=nohz,domain,2-3"), id: "rcu_nocbs", want: OK},
		{name: "rcu_missing", fsys: with(base, cmdl, "rcu_nocbs=2 isolcpus=domain,2-3"), id: "rcu_nocbs", want: Warn,
			contains: []string{"CPU 3 runs its own RCU callbacks", "kernel parameter: rcu_nocbs=2-3"}},
		{name: "rcu_bare_flag", fsys: with(base, cmdl, "rcu_nocbs"), id: "rcu_nocbs", want: Warn},
		{name: "rcu_garbage", fsys: with(base, cmdl, "rcu_nocbs=x"), id: "rcu_nocbs", want: Info, contains: []string{"not a CPU list"}},

		{name: "mitigations_off", fsys: with(base, cmdl, "mitigations=off"), id: "mitigations", want: Info, contains: []string{"remove mitigations=off"}},
		{name: "mitigations_default", fsys: base, id: "mitigations", want: OK},
		{name: "idle_poll", fsys: with(base, cmdl, "idle=poll"), id: "idle-poll", want: Info, contains: []string{"every idle CPU spins"}},
		{name: "idle_halt", fsys: with(base, cmdl, "idle=halt"), id: "idle-poll", want: Info, contains: []string{"remove idle=halt"}},
		{name: "idle_unset", fsys: base, id: "idle-poll", want: OK},
		{name: "tsc_reliable", fsys: with(base, cmdl, "tsc=reliable"), id: "tsc-reliable", want: OK},
		{name: "tsc_other", fsys: with(base, cmdl, "tsc=nowatchdog"), id: "tsc-reliable", want: Info, contains: []string{"kernel parameter: tsc=reliable"}},
	})
}

func TestSMTChecks(t *testing.T) {
	sib := func(kv ...string) fstest.MapFS { // cpu → thread_siblings_list
		m := fstest.MapFS{}
		for i := 0; i+1 < len(kv); i += 2 {
			m["sys/devices/system/cpu/cpu"+kv[i]+"/topology/thread_siblings_list"] = &fstest.MapFile{Data: []byte(kv[i+1] + "\n")}
		}
		return m
	}
	smt := with(sib("0", "0,2", "2", "0,2", "1", "1,3", "3", "1,3"), online, "0-3")
	runCases(t, []tcase{
		{name: "smt_unknown", fsys: base, id: "smt-shared-core", want: Info, contains: []string{"SMT topology unknown"}},
		{name: "smt_sibling_unknown", fsys: base, id: "smt-sibling", want: Info},
		{name: "smt_shared", fsys: smt, spinners: []int{1, 3}, id: "smt-shared-core", want: Crit, contains: []string{"1+3", "e.g. CPUs 1-2"}},
		{name: "smt_shared_no_room", fsys: with(sib("0", "0,1", "1", "0,1"), online, "0-1"), spinners: []int{0, 1}, id: "smt-shared-core", want: Crit,
			contains: []string{"too few cores"}},
		{name: "smt_shared_not_busy", fsys: smt, spinners: []int{1, 3}, id: "smt-sibling", want: OK},
		{name: "smt_sibling_online", fsys: smt, spinners: []int{1}, id: "smt-sibling", want: Warn,
			contains: []string{"cpu3 (sibling of spinner 1)", "echo 0 > /sys/devices/system/cpu/cpu3/online", "smt/control"}},
		{name: "smt_vm_hidden", fsys: with(smt, "proc/cpuinfo", "flags\t: fpu hypervisor"), spinners: []int{1, 3}, id: "smt-sibling", want: Info,
			contains: []string{"this is a VM"}},
		{name: "smt_vm_cpuid", fsys: smt, spinners: []int{1, 3}, cpu: &CPU{Source: "CPUID", VM: true, Hypervisor: "KVM"}, id: "smt-sibling", want: Info,
			contains: []string{"CPUID: hypervisor bit set (KVM)"}},
		{name: "smt_bare_metal_cpuid", fsys: with(smt, "proc/cpuinfo", "flags\t: fpu hypervisor"), spinners: []int{1, 3}, cpu: &CPU{Source: "CPUID"},
			id: "smt-sibling", want: OK},
		{name: "smt_vm_visible", fsys: with(smt, "proc/cpuinfo", "flags\t: fpu hypervisor"), spinners: []int{1}, id: "smt-sibling", want: Warn},
		{name: "smt_sibling_cpu0", fsys: smt, spinners: []int{2}, id: "smt-sibling", want: Warn, contains: []string{"cpu0 cannot usually be taken offline"}},
		{name: "smt_core_cpus_fallback", fsys: with(base, cpu2+"topology/core_cpus_list", "2", cpu3+"topology/core_cpus_list", "3"), id: "smt-shared-core", want: OK},
		{name: "smt_garbage", fsys: with(base, cpu2+"topology/thread_siblings_list", "2,,3", cpu3+"topology/thread_siblings_list", "3"),
			id: "smt-sibling", want: OK, contains: []string{"thread_siblings_list: unexpected content"}},
	})
}

func TestCPUChecks(t *testing.T) {
	idle := func(cpu, state, name, lat, disable string) []string {
		p := "sys/devices/system/cpu/cpu" + cpu + "/cpuidle/state" + state + "/"
		kv := []string{p + "name", name, p + "latency", lat}
		if disable != "" {
			kv = append(kv, p+"disable", disable)
		}
		return kv
	}
	cs := func(kvs ...[]string) fstest.MapFS {
		var all []string
		for _, kv := range kvs {
			all = append(all, kv...)
		}
		return with(base, all...)
	}
	runCases(t, []tcase{
		{name: "governor_none", fsys: base, id: "governor", want: Info, contains: []string{"usual on VMs"}},
		{name: "governor_ok", fsys: with(base, cpu2+"cpufreq/scaling_governor", "performance", cpu3+"cpufreq/scaling_governor", "performance"), id: "governor", want: OK},
		{name: "governor_slow", fsys: with(base, cpu2+"cpufreq/scaling_governor", "performance", cpu3+"cpufreq/scaling_governor", "schedutil"), id: "governor", want: Warn,
			contains: []string{"CPU 3 does not", "for c in 3; do echo performance > /sys/devices/system/cpu/cpu$c/cpufreq/scaling_governor; done", "schedutil on CPU 3"}},
		{name: "governor_garbage", fsys: with(base, cpu2+"cpufreq/scaling_governor", "", cpu3+"cpufreq/scaling_governor", "perf ormance"), id: "governor", want: Info,
			contains: []string{"scaling_governor: unexpected content"}},
		{name: "governor_no_spinners", fsys: fstest.MapFS{}, id: "governor", absent: true},

		{name: "cstate_none", fsys: base, id: "cstate", want: Info, contains: []string{"no cpuidle states", "no cpuidle directory for CPUs 2-3"}},
		{name: "cstate_shallow", fsys: cs(idle("2", "0", "POLL", "0", "0"), idle("2", "1", "C1", "2", "0"), idle("2", "2", "C1E", "10", "0")),
			id: "cstate", want: OK, contains: []string{"POLL 0 µs, C1 2 µs, C1E 10 µs", "no cpuidle directory for CPU 3"}},
		{name: "cstate_deep_disabled", fsys: cs(idle("2", "3", "C6", "133", "1"), idle("3", "3", "C6", "133", "1")), id: "cstate", want: OK},
		{name: "cstate_deep", fsys: with(cs(idle("2", "2", "C3", "33", "0"), idle("2", "3", "C6", "133", ""), idle("3", "3", "C6", "133", "0"),
			[]string{"sys/devices/system/cpu/cpuidle/current_driver", "acpi_idle"}), cmdl, "processor.max_cstate=3"), id: "cstate", want: Warn,
			contains: []string{
				"for c in 2; do for s in 2 3; do echo 1 > /sys/devices/system/cpu/cpu$c/cpuidle/state$s/disable; done; done",
				"for c in 3; do for s in 3; do echo 1 > /sys/devices/system/cpu/cpu$c/cpuidle/state$s/disable; done; done",
				"kernel parameter: processor.max_cstate=1", "processor.max_cstate=3", "cpuidle driver acpi_idle", "cpu_dma_latency",
			}},
		{name: "cstate_deep_unknown_driver", fsys: cs(idle("2", "3", "C6", "133", "0")), id: "cstate", want: Warn,
			contains: []string{"intel_idle.max_cstate=1 processor.max_cstate=1"}},
		{name: "cstate_deep_intel", fsys: with(cs(idle("2", "3", "", "133", "0")), "sys/devices/system/cpu/cpuidle/current_driver", "intel_idle"),
			id: "cstate", want: Warn, contains: []string{"state3 (133 µs) on cpu2", "# persistent: kernel parameter: intel_idle.max_cstate=1\n"}},
		{name: "cstate_garbage", fsys: with(cs(idle("2", "1", "C1", "x", "0")), cpu2+"cpuidle/stateX/name", "bogus"), id: "cstate", want: Info,
			contains: []string{"state1/latency: unexpected content \"x\""}},
		{name: "cstate_no_spinners", fsys: fstest.MapFS{}, id: "cstate", absent: true},

		{name: "clocksource_tsc", fsys: mfs(srcPath+"current_clocksource", "tsc"), id: "clocksource", want: OK},
		{name: "clocksource_kvm", fsys: mfs(srcPath+"current_clocksource", "kvm-clock", srcPath+"available_clocksource", "kvm-clock tsc acpi_pm"),
			id: "clocksource", want: Warn, contains: []string{"echo tsc > /sys/devices/system/clocksource/clocksource0/current_clocksource", "clocksource=tsc"}},
		{name: "clocksource_no_tsc", fsys: mfs(srcPath+"current_clocksource", "hpet", srcPath+"available_clocksource", "hpet acpi_pm"),
			id: "clocksource", want: Warn, contains: []string{"dmesg"}},
		{name: "clocksource_missing", fsys: base, id: "clocksource", want: Info, contains: []string{"current_clocksource not found"}},

		{name: "tsc_invariant", fsys: mfs("proc/cpuinfo", "processor\t: 0\nflags\t\t: fpu tsc constant_tsc nonstop_tsc\n"), id: "invariant-tsc", want: OK},
		{name: "tsc_not_invariant", fsys: mfs("proc/cpuinfo", "processor\t: 0\nflags\t\t: fpu tsc constant_tsc\n"), id: "invariant-tsc", want: Warn,
			contains: []string{"missing nonstop_tsc", "nonstop_tsc no"}},
		{name: "tsc_no_flags", fsys: mfs("proc/cpuinfo", "processor\t: 0\nFeatures\t: fp asimd\n"), id: "invariant-tsc", want: Info, contains: []string{"not an x86 CPU"}},
		{name: "tsc_cpuinfo_missing", fsys: base, id: "invariant-tsc", want: Info},
		{name: "tsc_cpuid_invariant", fsys: base, cpu: &CPU{Source: "CPUID", TSCKnown: true, InvariantTSC: true}, id: "invariant-tsc", want: OK,
			contains: []string{"CPUID 0x80000007 EDX[8] = 1"}},
		{name: "tsc_cpuid_not_invariant", fsys: mfs("proc/cpuinfo", "processor\t: 0\nflags\t\t: fpu tsc\n"), cpu: &CPU{Source: "CPUID", TSCKnown: true},
			id: "invariant-tsc", want: Warn, contains: []string{"EDX[8] clear", "EDX[8] = 0", "constant_tsc no", "monotonic clock", "+invtsc"}},
		{name: "tsc_cpuid_wins_over_flags", fsys: mfs("proc/cpuinfo", "processor\t: 0\nflags\t\t: fpu tsc\n"), cpu: &CPU{Source: "CPUID", TSCKnown: true, InvariantTSC: true},
			id: "invariant-tsc", want: OK},
		{name: "tsc_cpuid_unread_falls_back", fsys: mfs("proc/cpuinfo", "processor\t: 0\nflags\t\t: constant_tsc nonstop_tsc\n"), cpu: &CPU{Source: "CPUID"},
			id: "invariant-tsc", want: OK, contains: []string{"nonstop_tsc yes"}},
	})
}

func TestIRQChecks(t *testing.T) {
	irq := func(n, aff, eff string) []string {
		kv := []string{"proc/irq/" + n + "/smp_affinity_list", aff}
		if eff != "" {
			kv = append(kv, "proc/irq/"+n+"/effective_affinity_list", eff)
		}
		return kv
	}
	fsWith := func(kvs ...[]string) fstest.MapFS {
		var all []string
		for _, kv := range kvs {
			all = append(all, kv...)
		}
		return with(base, all...)
	}
	interrupts := "proc/interrupts"
	table := "            CPU0       CPU1       CPU3\n" +
		"  30:          1          0          7   PCI-MSI 1-edge      nvme0q1\n" +
		"  31:          0          0          0   IO-APIC-edge   timer\n" +
		"  32:          5          x\n" +
		"  zz:          1\n" +
		" NMI:          0          0          0   Non-maskable interrupts\n"
	runCases(t, []tcase{
		{name: "irq_dir_missing", fsys: base, id: "irq-on-spinner", want: Info, contains: []string{"/proc/irq not found"}},
		{name: "irq_none_readable", fsys: with(base, "proc/irq/5/spurious", "x"), id: "irq-on-spinner", want: Info,
			contains: []string{"1 IRQ directories"}},
		{name: "irq_none_readable_garbage", fsys: fsWith(irq("5", "x", "")), id: "irq-on-spinner", want: Info,
			contains: []string{"/proc/irq/5/smp_affinity_list: unexpected content"}},
		{name: "irq_ok", fsys: fsWith(irq("30", "0-1", "0"), irq("31", "0", ""), irq("40", "junk", "")), id: "irq-on-spinner", want: OK,
			contains: []string{"2 IRQs read", "/proc/irq/40/smp_affinity_list: unexpected content"}},
		{name: "irq_routed", fsys: with(fsWith(irq("30", "0-3", "3"), irq("31", "3", ""), irq("33", "0-3", "0")), interrupts, table),
			id: "irq-on-spinner", want: Warn, contains: []string{
				"3 IRQs may land on spinner CPUs (2 routed there now): 30 31 33",
				"IRQ 30 nvme0q1 allowed on 0-3, routed to 3, 7 taken on spinner CPUs",
				"IRQ 31 timer allowed on 3, 0 taken",
				"IRQ 33 allowed on 0-3, routed to 0",
				"echo 0-1 > /proc/irq/31/smp_affinity_list",
				"isolcpus=managed_irq,domain,2-3",
			}},
		{name: "irq_allowed_only", fsys: fsWith(irq("30", "0-3", "1")), id: "irq-on-spinner", want: Info,
			contains: []string{"allowed on spinner CPUs but routed elsewhere now: 30", "echo 0-1 > /proc/irq/30/smp_affinity_list"}},
		{name: "irq_no_housekeeping", fsys: fsWith(irq("30", "0-3", "")), spinners: []int{0, 1, 2, 3}, id: "irq-on-spinner", want: Warn,
			contains: []string{"no housekeeping CPU is left"}},
		{name: "irq_no_spinners", fsys: fstest.MapFS{}, id: "irq-on-spinner", absent: true},

		{name: "default_ok", fsys: with(base, "proc/irq/default_smp_affinity", "3"), id: "irqaffinity", want: OK},
		{name: "default_all", fsys: with(base, "proc/irq/default_smp_affinity", "f", cmdl, "irqaffinity=0-3"), id: "irqaffinity", want: Warn,
			contains: []string{"echo 3 > /proc/irq/default_smp_affinity", "kernel parameter: irqaffinity=0-1", "irqaffinity=0-3"}},
		{name: "default_no_housekeeping", fsys: with(base, "proc/irq/default_smp_affinity", "f"), spinners: []int{0, 1, 2, 3}, id: "irqaffinity", want: Warn,
			contains: []string{"no housekeeping CPU"}},
		{name: "default_missing", fsys: base, id: "irqaffinity", want: Info},
		{name: "default_garbage", fsys: with(base, "proc/irq/default_smp_affinity", "fffffffff"), id: "irqaffinity", want: Info, contains: []string{"unexpected content"}},
		{name: "default_no_spinners", fsys: fstest.MapFS{}, id: "irqaffinity", absent: true},
	})
}

func TestSysctlChecks(t *testing.T) {
	wd := func(kv ...string) fstest.MapFS {
		for i := 0; i < len(kv); i += 2 {
			kv[i] = kernel + kv[i]
		}
		return with(base, kv...)
	}
	thp := "sys/kernel/mm/transparent_hugepage/enabled"
	runCases(t, []tcase{
		{name: "watchdog_missing", fsys: base, id: "watchdog", want: Info},
		{name: "watchdog_off", fsys: wd("watchdog", "0", "soft_watchdog", "1"), id: "watchdog", want: OK},
		{name: "watchdog_detectors_off", fsys: with(wd("watchdog", "1", "soft_watchdog", "0", "nmi_watchdog", "0"), cmdl, "nosoftlockup nmi_watchdog=0"),
			id: "watchdog", want: OK, contains: []string{"nosoftlockup; nmi_watchdog=0"}},
		{name: "watchdog_masked", fsys: wd("watchdog", "1", "watchdog_cpumask", "0-1"), id: "watchdog", want: OK},
		{name: "watchdog_on_default_mask", fsys: wd("watchdog", "1"), id: "watchdog", want: Warn,
			contains: []string{"sysctl -w kernel.watchdog_cpumask=0-1", "/etc/sysctl.d/90-spinwire-watchdog.conf", "nosoftlockup nmi_watchdog=0"}},
		{name: "watchdog_no_housekeeping", fsys: wd("watchdog", "1"), spinners: []int{0, 1, 2, 3}, id: "watchdog", want: Warn,
			contains: []string{"sysctl -w kernel.watchdog=0"}},
		{name: "watchdog_garbage", fsys: wd("watchdog", "on"), id: "watchdog", want: Info, contains: []string{"unexpected content \"on\""}},
		{name: "watchdog_soft_garbage", fsys: wd("watchdog", "1", "soft_watchdog", "?"), id: "watchdog", want: Info},
		{name: "watchdog_mask_garbage", fsys: wd("watchdog", "1", "watchdog_cpumask", "0-"), id: "watchdog", want: Info},

		{name: "thp_always", fsys: mfs(thp, "[always] madvise never"), id: "thp", want: Warn, contains: []string{"transparent_hugepage=madvise"}},
		{name: "thp_never", fsys: mfs(thp, "always madvise [never]"), id: "thp", want: OK},
		{name: "thp_garbage", fsys: mfs(thp, "always"), id: "thp", want: Info, contains: []string{"unexpected content"}},
		{name: "thp_missing", fsys: base, id: "thp", want: Info},

		{name: "numa_on", fsys: wd("numa_balancing", "2"), id: "numa-balancing", want: Warn, contains: []string{"numa_balancing=disable"}},
		{name: "numa_off", fsys: wd("numa_balancing", "0"), id: "numa-balancing", want: OK},
		{name: "numa_garbage", fsys: wd("numa_balancing", "yes"), id: "numa-balancing", want: Info},
		{name: "numa_missing", fsys: base, id: "numa-balancing", want: Info},

		{name: "rt_throttled", fsys: wd("sched_rt_runtime_us", "950000"), id: "sched-rt-runtime", want: Info, contains: []string{"sysctl -w kernel.sched_rt_runtime_us=-1"}},
		{name: "rt_off", fsys: wd("sched_rt_runtime_us", "-1"), id: "sched-rt-runtime", want: OK},
		{name: "rt_garbage", fsys: wd("sched_rt_runtime_us", "9e9e"), id: "sched-rt-runtime", want: Info},
	})
}
