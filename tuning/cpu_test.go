package tuning

import (
	"os"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/spinwire/spinwire/asm"
)

func TestCPUString(t *testing.T) {
	for _, tc := range []struct {
		name string
		cpu  CPU
		want string
	}{
		{"unknown", CPU{Source: "CPUID"}, "processor unknown"},
		{"everything", CPU{Vendor: "GenuineIntel", Brand: "Intel(R) Xeon(R) Gold 6244 CPU @ 3.60GHz", Family: 6, Model: 85, Stepping: 7,
			VM: true, Hypervisor: "KVM", ThreadsPerCore: 2, L1D: 32 << 10, L2: 1 << 20, L3: 25344 << 10, TSCKnown: true, InvariantTSC: true,
			Features: []string{"AVX", "AVX2", "AVX512F", "AVX512VL", "RDTSCP", "SSE2"}},
			"Intel(R) Xeon(R) Gold 6244 CPU @ 3.60GHz (GenuineIntel family 6 model 85 stepping 7), under KVM, 2 threads per core, " +
				"L1d 32 KiB, L2 1 MiB, L3 24.75 MiB, invariant TSC, AVX2 AVX512F AVX512VL RDTSCP"},
		{"unnamed_hypervisor_no_tsc", CPU{Vendor: "AuthenticAMD", Family: 25, Model: 17, VM: true, ThreadsPerCore: 1, TSCKnown: true},
			"AuthenticAMD family 25 model 17 stepping 0, under a hypervisor, 1 thread per core, TSC not invariant"},
		{"brand_only_hybrid", CPU{Brand: "12th Gen Intel(R) Core(TM) i7-12700", Hybrid: true, L3: 512},
			"12th Gen Intel(R) Core(TM) i7-12700, hybrid (performance and efficiency cores), L3 512 B"},
		{"vendor_only", CPU{Vendor: "Arm Limited"}, "Arm Limited"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.cpu.String(); got != tc.want {
				t.Errorf("String:\n got %s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestCPUFromInfo(t *testing.T) {
	c := cpuFromInfo(os.DirFS("testdata/untuned-vm"))
	if c.Source != "/proc/cpuinfo" || c.Vendor != "GenuineIntel" || c.Brand != "Intel(R) Xeon(R) Processor" ||
		c.Family != 6 || c.Model != 207 || c.Stepping != 2 || !c.VM || c.TSCKnown {
		t.Errorf("untuned-vm: %+v", c)
	}
	if !slices.IsSorted(c.Features) || !c.Has("AVX512F") || !c.Has("CONSTANT_TSC") || c.Has("avx512f") {
		t.Errorf("features %q", c.Features)
	}
	// Only the first processor's block counts.
	c = cpuFromInfo(mfs("proc/cpuinfo", "processor\t: 0\nvendor_id\t: A\n\nprocessor\t: 1\nvendor_id\t: B\nflags\t: hypervisor"))
	if c.Vendor != "A" || c.VM || c.Features != nil {
		t.Errorf("two blocks: %+v", c)
	}
	if c := cpuFromInfo(mfs()); c.Known() || c.Source != "/proc/cpuinfo" {
		t.Errorf("missing file: %+v", c)
	}
}

// TestHostCPU: what klauspost/cpuid detected is copied, and the TSC bit is
// asm's.
func TestHostCPU(t *testing.T) {
	c := HostCPU()
	t.Log(c)
	if !slices.IsSorted(c.Features) || c.CacheLine < 0 || c.L2 < 0 || c.L3 < 0 {
		t.Errorf("HostCPU = %+v", c)
	}
	if c.TSCKnown != asm.HasCPUID || c.TSCKnown && c.InvariantTSC != asm.InvariantTSC() {
		t.Errorf("TSCKnown %v InvariantTSC %v; asm.HasCPUID %v asm.InvariantTSC %v", c.TSCKnown, c.InvariantTSC, asm.HasCPUID, asm.InvariantTSC())
	}
	// klauspost/cpuid honours the noasm tag too; then the description comes
	// from /proc/cpuinfo.
	if want := map[bool]string{true: "CPUID", false: "/proc/cpuinfo"}[asm.HasCPUID]; runtime.GOARCH == "amd64" && c.Source != want {
		t.Errorf("Source %q, want %q", c.Source, want)
	}
	if runtime.GOARCH == "amd64" && (c.Vendor == "" || c.Family == 0 || !c.Has("SSE2")) {
		t.Errorf("amd64 without vendor, family or SSE2: %+v", c)
	}
	if c.Hypervisor != "" && !c.VM {
		t.Errorf("hypervisor %q without the hypervisor bit", c.Hypervisor)
	}
}

func TestProcessorCheck(t *testing.T) {
	xeon := &CPU{Source: "CPUID", Vendor: "GenuineIntel", Brand: "Xeon", Family: 6, Model: 85, Features: []string{"AVX2", "RDTSCP"}}
	hybrid := &CPU{Source: "CPUID", Vendor: "GenuineIntel", Brand: "Core i7-12700", Hybrid: true}
	atom := "sys/devices/cpu_atom/cpus"
	runCases(t, []tcase{
		{name: "unknown", fsys: base, id: "cpu", want: Info, contains: []string{"processor unknown: /proc/cpuinfo names no vendor or model"}},
		{name: "named", fsys: base, cpu: xeon, id: "cpu", want: OK,
			contains: []string{"Xeon (GenuineIntel family 6 model 85 stepping 0)", "from CPUID", "features asm dispatches on: AVX2 RDTSCP"}},
		{name: "no_vector_features", fsys: base, cpu: &CPU{Source: "CPUID", Vendor: "Arm Limited"}, id: "cpu", want: OK,
			contains: []string{"none of AVX2, AVX512F, AVX512VL, RDTSCP: asm.Copy is the builtin copy"}},
		{name: "from_tree", fsys: with(base, "proc/cpuinfo", "vendor_id\t: GenuineIntel\nmodel name\t: Xeon\nflags\t: avx2 avx512f"), id: "cpu", want: OK,
			contains: []string{"from /proc/cpuinfo", "AVX2 AVX512F"}},
		{name: "spinner_on_efficiency_core", fsys: with(base, atom, "2,8-11", online, "0-11"), cpu: hybrid, spinners: []int{2, 3}, id: "cpu", want: Warn,
			contains: []string{"spinner CPU 2 is an efficiency core", "pin the spinners to performance cores: CPUs 0-1,3-7", "cpu_atom/cpus = 2,8-11"}},
		{name: "spinners_on_efficiency_cores_cpuid_silent", fsys: with(base, atom, "2-3"), spinners: []int{2, 3}, id: "cpu", want: Warn,
			contains: []string{"CPUs 2-3 are efficiency cores"}},
		{name: "spinners_on_performance_cores", fsys: with(base, atom, "0-1"), cpu: hybrid, id: "cpu", want: OK,
			contains: []string{"hybrid", "no spinner is on an efficiency core"}},
		{name: "hybrid_without_atom_list", fsys: base, cpu: hybrid, id: "cpu", want: Info,
			contains: []string{"which spinner CPUs are efficiency cores is unknown", "cpu_atom/cpus not found"}},
	})
}

// TestCheckCPUDefault: a tree's findings never come from the running
// processor, whatever it is.
func TestCheckCPUDefault(t *testing.T) {
	g := goodGo
	f := byID(t, Check(Options{FS: base, Runtime: &g, IncludeOK: true}))["cpu"]
	if !strings.Contains(f.Summary, "processor unknown") {
		t.Errorf("cpu finding on a tree without cpuinfo: %+v", f)
	}
}
