package affinity

import (
	"maps"
	"os"
	"reflect"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/spinwire/spinwire/asm"
)

// fakeCPU answers CPUID from a table keyed by {leaf, subleaf}; a key with
// subleaf anySub answers every subleaf of its leaf, and missing leaves give
// zeros.
type fakeCPU map[[2]uint32][4]uint32

const anySub = ^uint32(0)

func (f fakeCPU) cpuid(leaf, sub uint32) (eax, ebx, ecx, edx uint32) {
	r, ok := f[[2]uint32{leaf, sub}]
	if !ok {
		r = f[[2]uint32{leaf, anySub}]
	}
	return r[0], r[1], r[2], r[3]
}

// with returns a copy of f with the entries of g added or replaced.
func (f fakeCPU) with(g fakeCPU) fakeCPU {
	h := maps.Clone(f)
	maps.Copy(h, g)
	return h
}

// regs packs s little-endian into n registers, NUL-padded.
func regs(s string, n int) []uint32 {
	b := make([]byte, 4*n)
	copy(b, s)
	r := make([]uint32, n)
	for i := range r {
		r[i] = uint32(b[4*i]) | uint32(b[4*i+1])<<8 | uint32(b[4*i+2])<<16 | uint32(b[4*i+3])<<24
	}
	return r
}

// vendorLeaf is leaf 0: the highest basic leaf and the vendor in EBX, EDX,
// ECX.
func vendorLeaf(maxStd uint32, vendor string) [4]uint32 {
	r := regs(vendor, 3)
	return [4]uint32{maxStd, r[0], r[2], r[1]}
}

// hvLeaf is leaf 0x40000000: the hypervisor's vendor in EBX, ECX, EDX.
func hvLeaf(name string) [4]uint32 {
	r := regs(name, 3)
	return [4]uint32{0x40000001, r[0], r[1], r[2]}
}

// brandLeaves are leaves 0x80000002…4: the brand string, 16 bytes each.
func brandLeaves(f fakeCPU, brand string) fakeCPU {
	r := regs(brand, 12)
	for i := range uint32(3) {
		f[[2]uint32{0x80000002 + i, 0}] = [4]uint32(r[4*i : 4*i+4])
	}
	return f
}

// cacheEntry is one subleaf of leaf 4 / 0x8000001D: type (1 data,
// 2 instruction, 3 unified), level, ways, line size and sets, with unrelated
// EAX bits set (self-initialising, sharing, cores) that the decoder must
// mask off.
func cacheEntry(typ, level, ways, line, sets uint32) [4]uint32 {
	return [4]uint32{typ | level<<5 | 1<<8 | 7<<14 | 0x3f<<26, (ways-1)<<22 | (line - 1), sets - 1, 0}
}

// intelSKX is a Xeon Gold 6144 (Skylake-SP) guest under KVM.
func intelSKX() fakeCPU {
	f := fakeCPU{
		{0, 0}:          vendorLeaf(0x16, "GenuineIntel"),
		{1, 0}:          {0x00050654, 0x00100800, 0xfffa3203, 0x178bfbff}, // CLFLUSH 8×8; ECX[31] hypervisor
		{7, 0}:          {0, 0xd19f4fbb, 0x00000008, 0x9c000000},          // no SHA, GFNI, VAES, VPCLMULQDQ, FSRM
		{4, 0}:          cacheEntry(1, 1, 8, 64, 64),                      // L1d 32 KiB
		{4, 1}:          cacheEntry(2, 1, 8, 64, 64),                      // L1i 32 KiB
		{4, 2}:          cacheEntry(3, 2, 16, 64, 1024),                   // L2 1 MiB
		{4, 3}:          cacheEntry(3, 3, 11, 64, 36864),                  // L3 24.75 MiB
		{0x40000000, 0}: hvLeaf("KVMKVMKVM"),
		{0x80000000, 0}: {0x80000008, 0, 0, 0},
		{0x80000001, 0}: {0, 0, 0x00000121, 0x2c100800}, // LAHF, ABM; SYSCALL, NX, RDTSCP
		{0x80000006, 0}: {0, 0, 0x01006040, 0},
	}
	return brandLeaves(f, "    Intel(R) Xeon(R) Gold 6144 CPU @ 3.50GHz")
}

// amdZen2 is a Ryzen 7 3700X on bare metal, with TOPEXT.
func amdZen2() fakeCPU {
	f := fakeCPU{
		{0, 0}:          vendorLeaf(0x10, "AuthenticAMD"),
		{1, 0}:          {0x00870f10, 0x00100800, 0x7ed8320b, 0x178bfbff}, // ECX[31] clear: bare metal
		{7, 0}:          {0, 0x219c91a9, 0x00400004, 0},                   // SHA
		{0x40000000, 0}: hvLeaf("garbage"),                                // not read: no hypervisor bit
		{0x80000000, 0}: {0x8000001f, 0, 0, 0},
		{0x80000001, 0}: {0, 0, 0x75c237ff, 0x2fd3fbff}, // SSE4A, TOPEXT; SYSCALL, NX, MMXEXT, FXSROPT, RDTSCP
		{0x80000005, 0}: {0, 0, 0x20080140, 0x20080140}, // L1d, L1i 32 KiB
		{0x80000006, 0}: {0, 0, 0x02006140, 0x04009140}, // L2 512 KiB
		{0x8000001d, 0}: cacheEntry(1, 1, 8, 64, 64),
		{0x8000001d, 1}: cacheEntry(2, 1, 8, 64, 64),
		{0x8000001d, 2}: cacheEntry(3, 2, 8, 64, 1024),
		{0x8000001d, 3}: cacheEntry(3, 3, 16, 64, 16384), // L3 16 MiB per CCX
	}
	return brandLeaves(f, "AMD Ryzen 7 3700X 8-Core Processor           ")
}

func TestDecodeCPUID(t *testing.T) {
	zen2 := CPUID{Vendor: "AuthenticAMD", Brand: "AMD Ryzen 7 3700X 8-Core Processor", Family: 23, Model: 113, Stepping: 0,
		Features:  []string{"CMOV", "CMPXCHG8", "FXSR", "FXSROPT", "MMX", "MMXEXT", "NX", "RDTSCP", "SHA", "SSE", "SSE4A", "SYSCALL", "SYSEE", "TOPEXT", "X87"},
		CacheLine: 64, L1D: 32 << 10, L1I: 32 << 10, L2: 512 << 10, L3: 16 << 20}
	zen2NoTopoext := zen2
	zen2NoTopoext.Features = slices.DeleteFunc(slices.Clone(zen2.Features), func(s string) bool { return s == "TOPEXT" })
	zen2NoTopoext.L3 = 0 // 0x80000005/6 give no L3 per domain
	for _, tc := range []struct {
		name string
		cpu  fakeCPU
		want CPUID
	}{
		{"intel_skx_kvm", intelSKX(), CPUID{Vendor: "GenuineIntel", Brand: "Intel(R) Xeon(R) Gold 6144 CPU @ 3.50GHz",
			Family: 6, Model: 85, Stepping: 4, Hypervisor: "KVM",
			Features:  []string{"X87", "CMPXCHG8", "SYSEE", "CMOV", "MMX", "FXSR", "SSE", "HYPERVISOR", "SYSCALL", "NX", "RDTSCP"},
			CacheLine: 64, L1D: 32 << 10, L1I: 32 << 10, L2: 1 << 20, L3: 11 * 64 * 36864}},
		{"amd_zen2", amdZen2(), zen2},
		// Without TOPEXT leaf 0x8000001D is not read, even if it answers.
		{"amd_zen2_no_topoext", amdZen2().with(fakeCPU{{0x80000001, 0}: {0, 0, 0x75c237ff &^ (1 << 22), 0x2fd3fbff}}), zen2NoTopoext},
		// Only basic leaves: no brand, no extended features, no AMD caches.
		{"amd_zen4_msvm_basic_only", fakeCPU{
			{0, 0}:          vendorLeaf(0xd, "AuthenticAMD"),
			{1, 0}:          {0x00a10f11, 0x00100800, 1 << 31, 0},
			{0x40000000, 0}: hvLeaf("Microsoft Hv"),
		}, CPUID{Vendor: "AuthenticAMD", Family: 25, Model: 17, Stepping: 1, Hypervisor: "MSVM", Features: []string{"HYPERVISOR"}, CacheLine: 64}},
		// A hypervisor string that is not in the table is kept, trimmed;
		// the table's keys are matched untrimmed.
		{"unknown_hypervisor", fakeCPU{{0, 0}: vendorLeaf(1, "GenuineIntel"), {1, 0}: {0, 0, 1 << 31, 0}, {0x40000000, 0}: hvLeaf(" Foo HV  ")},
			CPUID{Vendor: "GenuineIntel", Hypervisor: "Foo HV", Features: []string{"HYPERVISOR"}}},
		{"bhyve", fakeCPU{{0, 0}: vendorLeaf(1, "GenuineIntel"), {1, 0}: {0, 0, 1 << 31, 0}, {0x40000000, 0}: hvLeaf("bhyve bhyve ")},
			CPUID{Vendor: "GenuineIntel", Hypervisor: "Bhyve", Features: []string{"HYPERVISOR"}}},
		// No CLFLUSH size in leaf 1: the line size of leaf 0x80000006.
		{"cache_line_from_ext", fakeCPU{{0, 0}: vendorLeaf(1, "CentaurHauls"), {1, 0}: {0x6f2, 0, 0, 0},
			{0x80000000, 0}: {0x80000006, 0, 0, 0}, {0x80000006, 0}: {0, 0, 0x40, 0}},
			CPUID{Vendor: "CentaurHauls", Family: 6, Model: 0x0f, Stepping: 2, CacheLine: 64}},
		// A hypervisor that answers every subleaf of leaf 4 with the same
		// entry (Xen did) does not loop for ever.
		{"repeating_cache_leaf", fakeCPU{{0, 0}: vendorLeaf(4, "GenuineIntel"), {4, anySub}: cacheEntry(3, 2, 16, 64, 1024)},
			CPUID{Vendor: "GenuineIntel", L2: 1 << 20}},
		// A unified L1 fills both L1D and L1I.
		{"unified_l1", fakeCPU{{0, 0}: vendorLeaf(4, "GenuineIntel"), {4, 0}: cacheEntry(3, 1, 8, 64, 64)},
			CPUID{Vendor: "GenuineIntel", L1D: 32 << 10, L1I: 32 << 10}},
		{"zeros", fakeCPU{}, CPUID{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			calls := 0
			got := decodeCPUID(func(leaf, sub uint32) (a, b, c, d uint32) {
				calls++
				return tc.cpu.cpuid(leaf, sub)
			})
			slices.Sort(got.Features) // HostCPUID sorts; the order of decodeCPUID is the table's
			want := tc.want
			want.Features = slices.Sorted(slices.Values(want.Features))
			if !reflect.DeepEqual(got, want) {
				t.Errorf("decodeCPUID =\n%+v\nwant\n%+v", got, want)
			}
			if calls > 5+maxCacheSubleaves+12 {
				t.Errorf("%d CPUID calls", calls)
			}
		})
	}
}

// TestFamilyModel: the extended family counts only when the base family is
// 0xF, the extended model only when it is 6 or 0xF.
func TestFamilyModel(t *testing.T) {
	for _, tc := range []struct {
		eax                     uint32
		family, model, stepping int
	}{
		{0x00050654, 6, 85, 4},   // Skylake-SP
		{0x000806ea, 6, 142, 10}, // Kaby Lake
		{0x00000f29, 15, 2, 9},   // NetBurst: family 0xF, extended family 0
		{0x00020f32, 15, 0x23, 2},
		{0x00100f42, 16, 4, 2},   // K10
		{0x00870f10, 23, 113, 0}, // Zen 2
		{0x00a10f11, 25, 17, 1},  // Zen 4
		{0x00b00f21, 26, 2, 1},   // Zen 5
		{0x0ff00543, 5, 4, 3},    // base family 5: extended family and model ignored
		{0x00000000, 0, 0, 0},
	} {
		f, m, s := familyModel(tc.eax)
		if f != tc.family || m != tc.model || s != tc.stepping {
			t.Errorf("familyModel(%#08x) = %d, %d, %d; want %d, %d, %d", tc.eax, f, m, s, tc.family, tc.model, tc.stepping)
		}
	}
}

// TestHostCPUID checks HostCPUID on this host: on amd64 against
// /proc/cpuinfo, everywhere its Features against golang.org/x/sys/cpu.
func TestHostCPUID(t *testing.T) {
	start := time.Now()
	id := HostCPUID()
	t.Logf("HostCPUID() in %v: %+v", time.Since(start), id)
	if !slices.IsSorted(id.Features) || len(slices.Compact(slices.Clone(id.Features))) != len(id.Features) {
		t.Errorf("Features %v not sorted and distinct", id.Features)
	}
	for _, f := range hostFeatures {
		if slices.Contains(id.Features, f.name) != *f.has {
			t.Errorf("Features has %q = %v, x/sys/cpu says %v", f.name, !*f.has, *f.has)
		}
	}
	if !asm.HasCPUID {
		if id.Vendor != "" || id.Brand != "" || id.Family != 0 || id.CacheLine != 0 || id.L1D != 0 || id.Hypervisor != "" {
			t.Errorf("without CPUID, HostCPUID() = %+v; want only Features", id)
		}
		return
	}
	if runtime.GOARCH != "amd64" {
		t.Fatalf("asm.HasCPUID on %s", runtime.GOARCH)
	}
	if id.Vendor == "" || id.Family <= 0 || id.Brand == "" || id.CacheLine != 64 {
		t.Errorf("HostCPUID() = %+v; want a vendor, a family, a brand and a 64-byte line", id)
	}
	if !slices.Contains(id.Features, "SSE2") {
		t.Errorf("Features %v lack SSE2, which every amd64 CPU has", id.Features)
	}
	if id.L1D <= 0 && (id.Vendor == "GenuineIntel" || id.Vendor == "AuthenticAMD") {
		t.Errorf("L1D %d on %s", id.L1D, id.Vendor)
	}
	kv, err := readCPUInfo(os.DirFS("/"))
	if err != nil {
		t.Fatal(err)
	}
	if len(kv) == 0 {
		t.Skip("no /proc/cpuinfo to compare with")
	}
	// The kernel decodes the same leaves the same way (arch/x86/kernel/cpu).
	for _, c := range []struct {
		key, got string
	}{
		{"vendor_id", id.Vendor}, {"model name", id.Brand},
		{"cpu family", strconv.Itoa(id.Family)}, {"model", strconv.Itoa(id.Model)}, {"stepping", strconv.Itoa(id.Stepping)},
	} {
		if kv[c.key] != c.got {
			t.Errorf("HostCPUID gives %s %q, /proc/cpuinfo %q", c.key, c.got, kv[c.key])
		}
	}
	flags := " " + kv["flags"] + " "
	for flag, name := range map[string]string{"rdtscp": "RDTSCP", "hypervisor": "HYPERVISOR", "sse": "SSE", "cmov": "CMOV", "nx": "NX"} {
		if strings.Contains(flags, " "+flag+" ") != slices.Contains(id.Features, name) {
			t.Errorf("/proc/cpuinfo flag %s present = %v, Features has %s = %v", flag, !slices.Contains(id.Features, name), name, slices.Contains(id.Features, name))
		}
	}
	if id.Hypervisor != "" && !strings.Contains(flags, " hypervisor ") {
		t.Errorf("Hypervisor %q, but no hypervisor flag in /proc/cpuinfo", id.Hypervisor)
	}
}

// TestFeatureNamesDistinct: no name is given by two sources, so one cannot
// hide the other's answer.
func TestFeatureNamesDistinct(t *testing.T) {
	seen := map[string]bool{}
	for _, f := range hostFeatures {
		if seen[f.name] {
			t.Errorf("feature %q twice in hostFeatures", f.name)
		}
		seen[f.name] = true
	}
	if runtime.GOARCH != "amd64" {
		return
	}
	for _, f := range cpuidBits {
		if seen[f.name] {
			t.Errorf("feature %q in both hostFeatures and cpuidBits", f.name)
		}
		seen[f.name] = true
	}
}
