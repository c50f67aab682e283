package affinity

import (
	"cmp"
	"slices"
	"strings"

	"github.com/spinwire/spinwire/asm"
)

// HostCPUID returns the cpuid facts of the running processor. On amd64 it
// executes CPUID (asm.CPUID) about 16 times, each one a trap to the
// hypervisor in a VM: a call took about 0.1 ms on the development host's KVM
// guest. Call it at setup, as Topology does; nothing is detected at package
// init.
//
// Features comes from golang.org/x/sys/cpu plus a few CPUID bits (see
// CPUID). Where asm.HasCPUID is false (arm64, other GOARCH, the noasm tag)
// Features is all there is and the other fields are left empty: TopologyFS
// then takes vendor, brand, family, model and stepping from /proc/cpuinfo
// where it has them (x86 does; arm64 has no vendor_id line), and
// Topo.CacheLine from sysfs or its default. The invariant-TSC bit (leaf
// 0x80000007 EDX bit 8) is not here: TopologyFS takes it from /proc/cpuinfo
// (see Topo.InvariantTSC), and asm.InvariantTSC reads it with CPUID.
func HostCPUID() CPUID {
	var id CPUID
	if asm.HasCPUID {
		id = decodeCPUID(asm.CPUID)
	}
	for _, f := range hostFeatures {
		if *f.has {
			id.Features = append(id.Features, f.name)
		}
	}
	slices.Sort(id.Features) // distinct: TestFeatureNamesDistinct
	return id
}

// feature is one entry of hostFeatures: a name as klauspost/cpuid spelled
// it and the golang.org/x/sys/cpu flag that says whether the CPU has it.
type feature struct {
	name string
	has  *bool
}

// cpuidFunc is CPUID: EAX=leaf, ECX=sub in, the four registers out.
type cpuidFunc func(leaf, sub uint32) (eax, ebx, ecx, edx uint32)

// maxCacheSubleaves bounds the walk of the cache leaves (4 and 0x8000001D):
// real CPUs list at most 5 or 6 caches, and some hypervisors (Xen) answer
// every subleaf with the same entry instead of the terminating null one.
const maxCacheSubleaves = 32

// hypervisorNames maps the vendor string of CPUID leaf 0x40000000 to the
// name klauspost/cpuid gave it; other strings are kept as they are, trimmed.
// A switch rather than a map: a map literal would be built at package init.
func hypervisorNames(v string) string {
	switch v {
	case "KVMKVMKVM", "Linux KVM Hv":
		return "KVM"
	case "Microsoft Hv":
		return "MSVM"
	case "VMwareVMware":
		return "VMware"
	case "XenVMMXenVMM":
		return "XenHVM"
	case "TCGTCGTCGTCG":
		return "QEMU"
	case "bhyve bhyve ":
		return "Bhyve"
	case "QNXQVMBSQG":
		return "QNX"
	case "ACRNACRNACRN":
		return "ACRN"
	case "SRESRESRESRE":
		return "SRE"
	case "Apple VZ":
		return "Apple"
	}
	return strings.TrimSpace(v)
}

// cpuidBits names the CPUID bits that golang.org/x/sys/cpu has no flag for
// (GFNI, VAES and VPCLMULQDQ it reports only with AVX-512), as
// klauspost/cpuid named them. They are the bits as the CPU sets them, as
// klauspost/cpuid reported them: VAES and VPCLMULQDQ are usable only where
// AVX is too.
var cpuidBits = [...]struct {
	leaf     uint32 // subleaf 0
	reg, bit uint8  // reg: 1 EBX, 2 ECX, 3 EDX
	name     string
}{
	{1, 3, 0, "X87"}, {1, 3, 8, "CMPXCHG8"}, {1, 3, 11, "SYSEE"}, {1, 3, 15, "CMOV"},
	{1, 3, 23, "MMX"}, {1, 3, 24, "FXSR"}, {1, 3, 25, "SSE"}, {1, 2, 31, "HYPERVISOR"},
	{7, 1, 29, "SHA"}, {7, 2, 8, "GFNI"}, {7, 2, 9, "VAES"}, {7, 2, 10, "VPCLMULQDQ"}, {7, 3, 4, "FSRM"},
	{0x80000001, 2, 6, "SSE4A"}, {0x80000001, 2, 22, "TOPEXT"},
	{0x80000001, 3, 11, "SYSCALL"}, {0x80000001, 3, 20, "NX"}, {0x80000001, 3, 22, "MMXEXT"},
	{0x80000001, 3, 25, "FXSROPT"}, {0x80000001, 3, 27, "RDTSCP"},
}

// decodeCPUID reads the processor's identity, cache line, cache sizes and
// the features of cpuidBits from the x86 CPUID leaves, as cpuid answers
// them. A cpuid that returns zeros gives an empty CPUID.
func decodeCPUID(cpuid cpuidFunc) CPUID {
	var id CPUID
	maxStd, b, c, d := cpuid(0, 0)
	id.Vendor = regString(b, d, c)          // untrimmed: "VIA VIA VIA " as CPUID has it
	maxExt, _, _, _ := cpuid(0x80000000, 0) // below 0x80000000: no extended leaves
	has := func(leaf uint32) bool {
		if leaf >= 0x80000000 {
			return maxExt >= leaf
		}
		return maxStd >= leaf
	}
	regs := map[uint32][4]uint32{}
	for _, leaf := range [...]uint32{1, 7, 0x80000001} {
		if has(leaf) {
			var r [4]uint32
			r[0], r[1], r[2], r[3] = cpuid(leaf, 0)
			regs[leaf] = r
		}
	}
	for _, f := range cpuidBits {
		if regs[f.leaf][f.reg]&(1<<f.bit) != 0 {
			id.Features = append(id.Features, f.name)
		}
	}
	if r, ok := regs[1]; ok {
		id.Family, id.Model, id.Stepping = familyModel(r[0])
		id.CacheLine = int(r[1]>>8&0xff) * 8 // CLFLUSH line size, in 8-byte units
		if r[2]&(1<<31) != 0 {
			id.Hypervisor = hypervisorName(cpuid)
		}
	}
	if has(0x80000004) {
		var r [12]uint32
		for i := range uint32(3) {
			r[4*i], r[4*i+1], r[4*i+2], r[4*i+3] = cpuid(0x80000002+i, 0)
		}
		id.Brand = strings.TrimSpace(regString(r[:]...)) // Intel pads with leading spaces
	}
	if id.CacheLine == 0 && has(0x80000006) {
		_, _, c, _ := cpuid(0x80000006, 0)
		id.CacheLine = int(c & 0xff)
	}
	switch id.Vendor {
	case "GenuineIntel":
		if has(4) {
			cacheLeaf(&id, cpuid, 4)
		}
	case "AuthenticAMD", "HygonGenuine":
		if has(0x80000005) {
			_, _, c, d := cpuid(0x80000005, 0)
			id.L1D, id.L1I = int(c>>24)<<10, int(d>>24)<<10 // KiB
		}
		if has(0x80000006) {
			_, _, c, _ := cpuid(0x80000006, 0)
			id.L2 = int(c>>16) << 10 // KiB
		}
		// TOPOEXT (0x80000001 ECX bit 22): leaf 0x8000001D is valid.
		if regs[0x80000001][2]&(1<<22) != 0 && has(0x8000001D) {
			cacheLeaf(&id, cpuid, 0x8000001D)
		}
	}
	return id
}

// familyModel decodes the display family, model and stepping of CPUID leaf
// 1 EAX: the extended family (bits 27:20) is added when the base family
// (11:8) is 0xF, and the extended model (19:16) is the model's high nibble
// when the base family is 6 or 0xF.
func familyModel(eax uint32) (family, model, stepping int) {
	base := int(eax >> 8 & 0xf)
	family, model, stepping = base, int(eax>>4&0xf), int(eax&0xf)
	if base == 0xf {
		family += int(eax >> 20 & 0xff)
	}
	if base == 0x6 || base == 0xf {
		model |= int(eax>>16&0xf) << 4
	}
	return family, model, stepping
}

// hypervisorName reads the hypervisor's vendor string from leaf 0x40000000
// (EBX, ECX, EDX) and names it with hypervisorNames.
func hypervisorName(cpuid cpuidFunc) string {
	_, b, c, d := cpuid(0x40000000, 0)
	return hypervisorNames(regString(b, c, d))
}

// cacheLeaf walks the deterministic cache parameters of leaf (4 on Intel,
// 0x8000001D on AMD, same layout) until the null entry and sets the cache
// sizes it lists; a unified level-1 cache fills whichever of L1D and L1I
// is still unset.
func cacheLeaf(id *CPUID, cpuid cpuidFunc, leaf uint32) {
	for sub := range uint32(maxCacheSubleaves) {
		a, b, c, _ := cpuid(leaf, sub)
		typ, level := a&0x1f, a>>5&7
		if typ == 0 {
			return
		}
		line, parts, ways := int(b&0xfff)+1, int(b>>12&0x3ff)+1, int(b>>22)+1
		size := ways * parts * line * (int(c) + 1)
		switch {
		case level == 1 && typ == 1:
			id.L1D = size
		case level == 1 && typ == 2:
			id.L1I = size
		case level == 1:
			id.L1D, id.L1I = cmp.Or(id.L1D, size), cmp.Or(id.L1I, size)
		case level == 2:
			id.L2 = size
		case level == 3:
			id.L3 = size
		}
	}
}

// regString is the ASCII string packed little-endian in regs, up to the
// first NUL.
func regString(regs ...uint32) string {
	b := make([]byte, 0, 4*len(regs))
	for _, r := range regs {
		b = append(b, byte(r), byte(r>>8), byte(r>>16), byte(r>>24))
	}
	if i := slices.Index(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}
