package tuning

import (
	"maps"
	"os"
	"strings"
	"testing"
)

// goodGo is a Go configuration that raises nothing for up to 6 spinners.
var goodGo = GoSettings{GOMAXPROCS: 8, GOMAXPROCSEnv: "8", GODEBUG: "asyncpreemptoff=1", GCPercent: -1, MemoryLimit: 1 << 30}

func byID(t *testing.T, fs []Finding) map[string]Finding {
	t.Helper()
	m := map[string]Finding{}
	for _, f := range fs {
		if _, dup := m[f.ID]; dup {
			t.Errorf("ID %q returned twice", f.ID)
		}
		m[f.ID] = f
	}
	return m
}

// hostIDs are the IDs every fixture tree yields (the three trees have every
// file the checks read).
var hostIDs = []string{
	"spinner-cpus", "cmdline", "isolcpus", "nohz_full", "rcu_nocbs", "mitigations", "idle-poll",
	"tsc-reliable", "cpu", "smt-shared-core", "smt-sibling", "governor", "cstate", "clocksource",
	"invariant-tsc", "irqaffinity", "irq-on-spinner", "watchdog", "thp", "numa-balancing", "sched-rt-runtime",
}

// TestFixtures runs Check over the three fixture trees (testdata/README.md
// says where each comes from) and pins the severity of every host finding.
// Between them the trees raise every host finding that a whole host can, and
// leave each of them unraised at least once.
func TestFixtures(t *testing.T) {
	type want map[string]Severity
	allOK := func(except want) want {
		w := want{}
		for _, id := range hostIDs {
			w[id] = OK
		}
		maps.Copy(w, except)
		return w
	}
	cases := []struct {
		name     string
		tree     string
		spinners []int
		want     want
	}{
		{"untuned_vm/default_spinners", "untuned-vm", nil, allOK(want{
			"spinner-cpus": Info, "isolcpus": Warn, "nohz_full": Info, "rcu_nocbs": Warn, "tsc-reliable": Info,
			"smt-sibling": Info, "governor": Info, "irqaffinity": Warn, "irq-on-spinner": Warn, "watchdog": Warn, "sched-rt-runtime": Info,
		})},
		{"tuned_server/default_spinners", "tuned-server", nil, allOK(want{"spinner-cpus": Info})},
		{"tuned_server/given_spinners", "tuned-server", []int{2, 3, 7}, allOK(nil)},
		{"tuned_server/offline_spinner", "tuned-server", []int{2, 18}, allOK(want{
			// 18 is offline: sysfs has no topology, cpufreq or cpuidle for
			// it and no IRQ points there, so only spinner-cpus and the
			// isolation checks object.
			"spinner-cpus": Crit, "isolcpus": Warn, "nohz_full": Warn, "rcu_nocbs": Warn,
		})},
		{"tuned_server/cpu0_spinner", "tuned-server", []int{0, 2}, allOK(want{
			"spinner-cpus": Warn, "isolcpus": Warn, "nohz_full": Warn, "rcu_nocbs": Warn,
			"smt-sibling": Warn, "irqaffinity": Warn, "irq-on-spinner": Warn,
		})},
		{"half_tuned_server/default_spinners", "half-tuned-server", nil, allOK(want{
			"spinner-cpus": Info, "isolcpus": Info, "tsc-reliable": Info, "smt-sibling": Warn, "governor": Warn,
			"cstate": Warn, "irqaffinity": Warn, "irq-on-spinner": Warn, "watchdog": Warn, "thp": Warn,
			"numa-balancing": Warn, "sched-rt-runtime": Info,
		})},
		{"half_tuned_server/siblings_as_spinners", "half-tuned-server", []int{2, 18}, allOK(want{
			"isolcpus": Warn, "nohz_full": Warn, "rcu_nocbs": Warn, "tsc-reliable": Info,
			"smt-shared-core": Crit, "governor": Warn, "cstate": Warn, "irqaffinity": Warn,
			"irq-on-spinner": Warn, "watchdog": Warn, "thp": Warn, "numa-balancing": Warn, "sched-rt-runtime": Info,
		})},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := goodGo
			got := byID(t, Check(Options{FS: os.DirFS("testdata/" + tc.tree), SpinnerCPUs: tc.spinners, Runtime: &g, IncludeOK: true}))
			for id, sev := range tc.want {
				f, ok := got[id]
				switch {
				case !ok:
					t.Errorf("%s: missing", id)
				case f.Severity != sev:
					t.Errorf("%s: severity %v, want %v: %s | %s", id, f.Severity, sev, f.Summary, f.Evidence)
				case sev > OK && f.Fix == "" && sev != Info:
					t.Errorf("%s: %v without a fix", id, sev)
				}
			}
		})
	}
}

// TestFixtureDetails checks the exact evidence and fix lines a user would
// copy from the fixtures.
func TestFixtureDetails(t *testing.T) {
	g := goodGo
	half := byID(t, Check(Options{FS: os.DirFS("testdata/half-tuned-server"), Runtime: &g}))
	for id, want := range map[string][]string{
		"irq-on-spinner": {
			"echo 0-1,8-17,24-31 > /proc/irq/102/smp_affinity_list",
			"echo 0-1,8-17,24-31 > /proc/irq/107/smp_affinity_list",
			"IRQ 104 mlx5_comp4@pci:0000:3b:00.0 allowed on 4, routed to 4, 104017 taken on spinner CPUs",
			"IRQBALANCE_BANNED_CPULIST=2-7",
		},
		"irqaffinity": {"echo ff03ff03 > /proc/irq/default_smp_affinity", "irqaffinity=0-1,8-17,24-31"},
		"smt-sibling": {"echo 0 > /sys/devices/system/cpu/cpu18/online", "echo 0 > /sys/devices/system/cpu/cpu23/online"},
		"governor":    {"for c in 4 5 6 7; do echo performance > /sys/devices/system/cpu/cpu$c/cpufreq/scaling_governor; done"},
		"cstate": {
			"for c in 2 3 4 5 6 7; do for s in 3; do echo 1 > /sys/devices/system/cpu/cpu$c/cpuidle/state$s/disable; done; done",
			"intel_idle.max_cstate=1", "C6 (170 µs) on cpu2",
		},
		"watchdog":       {"sysctl -w kernel.watchdog_cpumask=0-1,8-17,24-31"},
		"thp":            {"echo madvise > /sys/kernel/mm/transparent_hugepage/enabled"},
		"numa-balancing": {"sysctl -w kernel.numa_balancing=0"},
		"isolcpus":       {"kernel parameter: isolcpus=managed_irq,domain,2-7"},
	} {
		f := half[id]
		all := f.Summary + "\n" + f.Evidence + "\n" + f.Fix
		for _, w := range want {
			if !strings.Contains(all, w) {
				t.Errorf("%s: %q not in\n%s", id, w, all)
			}
		}
	}

	vm := byID(t, Check(Options{FS: os.DirFS("testdata/untuned-vm"), Runtime: &g}))
	if f := vm["irq-on-spinner"]; !strings.Contains(f.Evidence, "IRQ 36 virtio1-req.0 allowed on 0-1, routed to 1") ||
		!strings.Contains(f.Fix, "echo 0 > /proc/irq/36/smp_affinity_list") {
		t.Errorf("untuned-vm irq-on-spinner: %+v", f)
	}
	// The init arguments after "--" (nosmt isolcpus=1) are not kernel parameters.
	if f := vm["isolcpus"]; strings.Contains(f.Evidence, "isolcpus=1") || !strings.Contains(f.Fix, "isolcpus=managed_irq,domain,1") {
		t.Errorf("untuned-vm isolcpus: %+v", f)
	}

	sib := byID(t, Check(Options{FS: os.DirFS("testdata/half-tuned-server"), SpinnerCPUs: []int{2, 18}, Runtime: &g}))
	if f := sib["smt-shared-core"]; !strings.Contains(f.Summary, "2+18") || !strings.Contains(f.Fix, "CPUs 2-3") {
		t.Errorf("smt-shared-core: %+v", f)
	}
}

// TestCheckDefaultsToOK: without IncludeOK, no OK finding comes back, and the
// tuned server's only remark is which spinner CPUs were assumed.
func TestCheckDefaultsToOK(t *testing.T) {
	g := goodGo
	fs := Check(Options{FS: os.DirFS("testdata/tuned-server"), Runtime: &g})
	if len(fs) != 1 || fs[0].ID != "spinner-cpus" || fs[0].Severity != Info {
		t.Fatalf("tuned server: %+v", fs)
	}
	fs = Check(Options{FS: os.DirFS("testdata/half-tuned-server"), Runtime: &g})
	for i, f := range fs {
		if f.Severity == OK {
			t.Errorf("OK finding %q without IncludeOK", f.ID)
		}
		if i > 0 && f.Severity > fs[i-1].Severity {
			t.Errorf("not worst first: %v after %v", f.Severity, fs[i-1].Severity)
		}
	}
	if Worst(fs) != Warn || Worst(nil) != OK {
		t.Errorf("Worst = %v, %v", Worst(fs), Worst(nil))
	}
}
