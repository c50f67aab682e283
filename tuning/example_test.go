package tuning_test

import (
	"fmt"
	"math"
	"os"
	"testing/fstest"

	"github.com/spinwire/spinwire/tuning"
)

// A host described by a few files: CPUs 2-3 isolated, but one NIC interrupt
// still lands on CPU 3 and transparent huge pages are always on. Real
// programs leave Options.FS nil to read the live host.
func Example() {
	file := func(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s + "\n")} }
	host := fstest.MapFS{
		"proc/cmdline":                               file("ro quiet isolcpus=managed_irq,domain,2-3 nohz_full=2-3"),
		"sys/devices/system/cpu/online":              file("0-3"),
		"sys/devices/system/cpu/isolated":            file("2-3"),
		"sys/devices/system/cpu/nohz_full":           file("2-3"),
		"proc/irq/42/smp_affinity_list":              file("3"),
		"sys/kernel/mm/transparent_hugepage/enabled": file("[always] madvise never"),
	}
	findings := tuning.Check(tuning.Options{
		FS:          host,
		SpinnerCPUs: []int{2, 3},
		Runtime: &tuning.GoSettings{ // what the program will run with
			GOMAXPROCS: 4, GOMAXPROCSEnv: "4", GCPercent: -1, MemoryLimit: math.MaxInt64,
		},
	})
	for _, f := range findings {
		if f.Severity >= tuning.Warn {
			fmt.Printf("%s %s: %s\n%s\n", f.Severity, f.ID, f.Summary, f.Fix)
		}
	}
	if tuning.Worst(findings) >= tuning.Warn {
		fmt.Println("host needs tuning")
	}
	// Output:
	// warn irq-on-spinner: 1 IRQ may land on spinner CPUs (1 routed there now): 42
	// echo 0-1 > /proc/irq/42/smp_affinity_list
	// # an IRQ that cannot move (the timer, managed IRQs of NVMe and some multiqueue NICs) refuses this write with EIO; for managed ones: kernel parameter: isolcpus=managed_irq,domain,2-3
	// # irqbalance moves IRQs back unless told: IRQBALANCE_BANNED_CPULIST=2-3 in /etc/default/irqbalance (Debian/Ubuntu) or /etc/sysconfig/irqbalance (RHEL), then: systemctl restart irqbalance
	// warn thp: transparent huge pages are always on: khugepaged and compaction can stall the process
	// echo madvise > /sys/kernel/mm/transparent_hugepage/enabled
	// # persistent: kernel parameter: transparent_hugepage=madvise
	// host needs tuning
}

// The report `pingpong -check` prints: every finding as a table, or as JSON
// lines with -json.
func ExampleWriteTable() {
	findings := []tuning.Finding{{
		ID: "governor", Severity: tuning.Warn,
		Summary:  "spinner CPU 3 does not use the performance governor: it may run below full clock",
		Evidence: "performance on CPU 2; powersave on CPU 3",
		Fix:      "for c in 3; do echo performance > /sys/devices/system/cpu/cpu$c/cpufreq/scaling_governor; done",
	}}
	tuning.WriteTable(os.Stdout, findings)
	tuning.WriteJSON(os.Stdout, findings)
	// Output:
	// SEVERITY  ID        SUMMARY
	// warn      governor  spinner CPU 3 does not use the performance governor: it may run below full clock
	//                     evidence: performance on CPU 2; powersave on CPU 3
	//                     fix: for c in 3; do echo performance > /sys/devices/system/cpu/cpu$c/cpufreq/scaling_governor; done
	// {"id":"governor","severity":"warn","summary":"spinner CPU 3 does not use the performance governor: it may run below full clock","evidence":"performance on CPU 2; powersave on CPU 3","fix":"for c in 3; do echo performance > /sys/devices/system/cpu/cpu$c/cpufreq/scaling_governor; done"}
}

// A benchmark report names the processor it ran on. HostCPU reads the
// running one; the description of another can be written out.
func ExampleCPU_String() {
	host := tuning.HostCPU()
	fmt.Println(host.String() != "")
	sapphire := tuning.CPU{Vendor: "GenuineIntel", Brand: "Intel(R) Xeon(R) Platinum 8481C", Family: 6, Model: 143, Stepping: 8,
		VM: true, Hypervisor: "KVM", ThreadsPerCore: 2, L2: 2 << 20, TSCKnown: true, InvariantTSC: true,
		Features: []string{"AVX2", "AVX512F", "AVX512VL", "RDTSCP"}}
	fmt.Println(sapphire)
	// Output:
	// true
	// Intel(R) Xeon(R) Platinum 8481C (GenuineIntel family 6 model 143 stepping 8), under KVM, 2 threads per core, L2 2 MiB, invariant TSC, AVX2 AVX512F AVX512VL RDTSCP
}
