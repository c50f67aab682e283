package tuning

import (
	"io/fs"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/klauspost/cpuid/v2"
	"github.com/spinwire/spinwire/asm"
)

// CPU describes the processor: what CPUID reports on the running host
// (HostCPU), or what /proc/cpuinfo of another tree says. The "cpu",
// "invariant-tsc" and "smt-sibling" findings judge it, and a benchmark
// report prints its String. Zero values mean unknown.
type CPU struct {
	// Source says where the facts come from: "CPUID" (HostCPU) or
	// "/proc/cpuinfo" (a tree given as Options.FS).
	Source   string
	Vendor   string // "GenuineIntel", "AuthenticAMD", "Arm Limited", …
	Brand    string // e.g. "Intel(R) Xeon(R) Gold 6244 CPU @ 3.60GHz"
	Family   int    // display family (6 for Intel Core and Xeon, 25 for Zen 3 and 4)
	Model    int    // display model
	Stepping int

	// VM reports the CPUID hypervisor bit (the "hypervisor" flag of
	// /proc/cpuinfo): a guest, whose vCPUs the host schedules and whose SMT
	// pairs it may hide. Hypervisor names it when CPUID leaf 0x40000000
	// does ("KVM", "MSVM", "VMware", …), else "".
	VM         bool
	Hypervisor string

	ThreadsPerCore int // SMT threads per physical core, as CPUID says (a guest sees its virtual topology)
	Hybrid         bool
	CacheLine      int // bytes
	L1D, L2, L3    int // bytes per cache, as CPUID describes one of each

	// Features lists what the processor supports, sorted, in
	// github.com/klauspost/cpuid/v2's spelling ("AVX2", "AVX512F",
	// "RDTSCP"); from /proc/cpuinfo, the kernel's flags in upper case, which
	// agree for the ones this package names (cpuFeaturesShown).
	Features []string

	// InvariantTSC is CPUID leaf 0x80000007 EDX bit 8, the bit asm.Ticks
	// needs before it reads the TSC: HostCPU reads it through
	// asm.InvariantTSC, as klauspost/cpuid does not report it. TSCKnown is
	// false where it was not read: another GOARCH, the noasm tag, a tree.
	InvariantTSC, TSCKnown bool
}

// cpuFeaturesShown are the features String and the "cpu" finding name:
// the ones asm dispatches on (Copy: AVX-512 F and VL, else AVX2; Ticks:
// RDTSCP).
var cpuFeaturesShown = []string{"AVX2", "AVX512F", "AVX512VL", "RDTSCP"}

// HostCPU describes the running processor from what
// github.com/klauspost/cpuid/v2 detected when the program started (that
// package runs its CPUID instructions in its init), plus asm.InvariantTSC.
// It executes no CPUID itself; it allocates the Features slice. Where
// klauspost/cpuid detects nothing (amd64 built with the noasm tag, which it
// honours too, and architectures it does not know) the description comes
// from /proc/cpuinfo instead, at the cost of reading it.
func HostCPU() CPU {
	h := cpuFromCPUID()
	if !h.Known() {
		h = cpuFromInfo(os.DirFS("/"))
	}
	if asm.HasCPUID {
		h.InvariantTSC, h.TSCKnown = asm.InvariantTSC(), true
	}
	return h
}

// cpuFromCPUID copies what klauspost/cpuid detected.
func cpuFromCPUID() CPU {
	c := &cpuid.CPU
	h := CPU{
		Source:         "CPUID",
		Vendor:         strings.TrimSpace(c.VendorString),
		Brand:          strings.TrimSpace(c.BrandName),
		Family:         c.Family,
		Model:          c.Model,
		Stepping:       c.Stepping,
		VM:             c.VM(),
		ThreadsPerCore: c.ThreadsPerCore,
		Hybrid:         c.Supports(cpuid.HYBRID_CPU),
		CacheLine:      max(c.CacheLine, 0),
		L1D:            max(c.Cache.L1D, 0),
		L2:             max(c.Cache.L2, 0),
		L3:             max(c.Cache.L3, 0),
		Features:       c.FeatureSet(),
	}
	slices.Sort(h.Features)
	if c.HypervisorVendorID != cpuid.VendorUnknown {
		h.Hypervisor = c.HypervisorVendorID.String()
	} else if h.VM {
		h.Hypervisor = strings.TrimSpace(c.HypervisorVendorString)
	}
	return h
}

// cpuFromInfo describes the processor of a tree from the first block of its
// proc/cpuinfo: vendor, brand, family, model, stepping and flags. A missing
// or unreadable file gives a CPU with only Source set.
func cpuFromInfo(fsys fs.FS) CPU {
	c := CPU{Source: "/" + cpuinfoPath}
	s, err := readString(fsys, cpuinfoPath)
	if err != nil {
		return c
	}
	block, _, _ := strings.Cut(s, "\n\n")
	for line := range strings.Lines(block) {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		v = strings.TrimSpace(v)
		n, _ := strconv.Atoi(v)
		switch strings.TrimSpace(k) {
		case "vendor_id":
			c.Vendor = v
		case "model name":
			c.Brand = v
		case "cpu family":
			c.Family = n
		case "model":
			c.Model = n
		case "stepping":
			c.Stepping = n
		case "flags":
			for f := range strings.FieldsSeq(v) {
				c.Features = append(c.Features, strings.ToUpper(f))
			}
			slices.Sort(c.Features)
			c.VM = c.Has("HYPERVISOR")
		}
	}
	return c
}

// Has reports whether Features lists name. Cost: a binary search.
func (c CPU) Has(name string) bool {
	_, ok := slices.BinarySearch(c.Features, name)
	return ok
}

// Known reports whether anything identifies the processor (vendor or brand).
func (c CPU) Known() bool { return c.Vendor != "" || c.Brand != "" }

// String describes the processor on one line, e.g.
//
//	Intel(R) Xeon(R) Gold 6244 CPU @ 3.60GHz (GenuineIntel family 6 model 85
//	stepping 7), under KVM, 2 threads per core, L1d 32 KiB, L2 1 MiB,
//	L3 24.75 MiB, invariant TSC, AVX2 AVX512F AVX512VL RDTSCP
//
// (without the line breaks); parts that are unknown are left out, and a
// CPU with nothing known gives "processor unknown".
func (c CPU) String() string {
	if !c.Known() {
		return "processor unknown"
	}
	parts := []string{c.identity()}
	switch {
	case c.Hypervisor != "":
		parts = append(parts, "under "+c.Hypervisor)
	case c.VM:
		parts = append(parts, "under a hypervisor")
	}
	if c.ThreadsPerCore > 0 {
		parts = append(parts, count(c.ThreadsPerCore, "thread per core", "threads per core"))
	}
	if c.Hybrid {
		parts = append(parts, "hybrid (performance and efficiency cores)")
	}
	for _, k := range []struct {
		name string
		size int
	}{{"L1d", c.L1D}, {"L2", c.L2}, {"L3", c.L3}} {
		if k.size > 0 {
			parts = append(parts, k.name+" "+bytesIEC(k.size))
		}
	}
	switch {
	case c.TSCKnown && c.InvariantTSC:
		parts = append(parts, "invariant TSC")
	case c.TSCKnown:
		parts = append(parts, "TSC not invariant")
	}
	if f := c.shownFeatures(); len(f) > 0 {
		parts = append(parts, strings.Join(f, " "))
	}
	return strings.Join(parts, ", ")
}

// identity is the brand followed by the vendor, family, model and stepping.
func (c CPU) identity() string {
	id := c.Vendor
	if c.Family > 0 || c.Model > 0 {
		id += " family " + itoa(c.Family) + " model " + itoa(c.Model) + " stepping " + itoa(c.Stepping)
	}
	id = strings.TrimSpace(id)
	switch {
	case c.Brand == "":
		return id
	case id == "":
		return c.Brand
	}
	return c.Brand + " (" + id + ")"
}

// shownFeatures are the cpuFeaturesShown the processor has.
func (c CPU) shownFeatures() []string {
	var out []string
	for _, f := range cpuFeaturesShown {
		if c.Has(f) {
			out = append(out, f)
		}
	}
	return out
}

// bytesIEC formats a size as "48 KiB", "1 MiB" or "24.75 MiB".
func bytesIEC(n int) string {
	unit, div := "B", 1
	switch {
	case n >= 1<<20:
		unit, div = "MiB", 1<<20
	case n >= 1<<10:
		unit, div = "KiB", 1<<10
	}
	return strconv.FormatFloat(float64(n)/float64(div), 'f', -1, 64) + " " + unit
}
