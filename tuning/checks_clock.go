package tuning

import (
	"fmt"
	"io/fs"
	"slices"
	"strings"
)

// checkClocksource reads clocksource0/current_clocksource. Anything but the
// TSC makes time.Now and the runtime's nanotime slower (hpet and acpi_pm
// cost a system call or an MMIO read per call). ID "clocksource": warn when it
// is not tsc, info when unreadable, ok when tsc.
func checkClocksource(h *host) []Finding {
	const id = "clocksource"
	cur, err := readString(h.fsys, clocksourcePath)
	if err != nil {
		return unknown(id, "clocksource", err)
	}
	avail, _ := readString(h.fsys, clocksAvailPath)
	ev := fmt.Sprintf("/%s = %q; /%s = %q", clocksourcePath, cur, clocksAvailPath, avail)
	if cur == "tsc" {
		return one(id, OK, "the clocksource is the TSC", ev, "")
	}
	fix := "# the kernel rejected the TSC (see: dmesg | grep -i -e tsc -e clocksource); on a VM choose an instance type with an invariant TSC"
	if slices.Contains(strings.Fields(avail), "tsc") {
		fix = lines("echo tsc > /"+clocksourcePath, "# persistent: "+kernelParam("clocksource=tsc"))
	}
	return one(id, Warn, fmt.Sprintf("the clocksource is %s, not tsc: time.Now and timers cost more", cur), ev, fix)
}

// checkInvariantTSC asks whether the TSC is invariant: only then are TSC
// timestamps comparable across cores and C-states, and only then does
// asm.Ticks read it (else it falls back to the monotonic clock). The
// answer is CPUID leaf 0x80000007 EDX bit 8 (CPU.InvariantTSC) where it was
// read, else the flags of /proc/cpuinfo, where the kernel shows that bit as
// constant_tsc and nonstop_tsc. ID "invariant-tsc": warn when the TSC is not
// invariant, info when neither source tells (no flags line: not x86), ok
// otherwise.
func checkInvariantTSC(h *host) []Finding {
	const id = "invariant-tsc"
	flags, found, err := cpuFlags(h.fsys)
	var ev []string
	if h.cpu.TSCKnown {
		bit := "0"
		if h.cpu.InvariantTSC {
			bit = "1"
		}
		ev = append(ev, "CPUID 0x80000007 EDX[8] = "+bit)
	}
	if found {
		ev = append(ev, "/proc/cpuinfo flags: constant_tsc "+yesNo(slices.Contains(flags, "constant_tsc"))+
			", nonstop_tsc "+yesNo(slices.Contains(flags, "nonstop_tsc")))
	}
	var miss []string
	switch {
	case h.cpu.TSCKnown && !h.cpu.InvariantTSC:
		miss = []string{"CPUID 0x80000007 EDX[8] clear"}
	case h.cpu.TSCKnown:
	case err != nil:
		return unknown(id, "invariant TSC", err)
	case !found:
		return one(id, Info, "invariant TSC unknown: /proc/cpuinfo has no flags line (not an x86 CPU?)", "/proc/cpuinfo: no flags line", "")
	default:
		for _, f := range []string{"constant_tsc", "nonstop_tsc"} {
			if !slices.Contains(flags, f) {
				miss = append(miss, "missing "+f)
			}
		}
	}
	if len(miss) > 0 {
		return one(id, Warn, "the TSC is not invariant ("+strings.Join(miss, ", ")+"): asm.Ticks falls back to the monotonic clock, and RDTSC timestamps drift with frequency changes or stop in deep C-states",
			strings.Join(ev, "; "), lines(
				"# no software fix: run on a CPU (or a VM type) that reports constant_tsc and nonstop_tsc, or time with the monotonic clock instead of RDTSC",
				"# on KVM the host can pass the bit through (QEMU: -cpu host,+invtsc; libvirt: <feature policy='require' name='invtsc'/>)"))
	}
	return one(id, OK, "the TSC is invariant", strings.Join(ev, "; "), "")
}

// cpuFlags returns the first "flags" line of /proc/cpuinfo (x86 only), and
// whether there was one.
func cpuFlags(fsys fs.FS) ([]string, bool, error) {
	s, err := readString(fsys, cpuinfoPath)
	if err != nil {
		return nil, false, err
	}
	for line := range strings.Lines(s) {
		k, v, ok := strings.Cut(line, ":")
		if ok && strings.TrimSpace(k) == "flags" {
			return strings.Fields(v), true, nil
		}
	}
	return nil, false, nil
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
