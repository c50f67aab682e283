package tuning

import (
	"fmt"
	"io/fs"
	"slices"
	"strconv"
	"strings"

	"github.com/spinwire/spinwire/affinity"
)

// irqInfo is one numbered line of /proc/interrupts.
type irqInfo struct {
	name   string         // device/action name ("nvme0q3", "virtio1-req.0")
	counts map[int]uint64 // CPU → interrupts taken there
}

// parseInterrupts reads /proc/interrupts: a header of "CPUn" columns (online
// CPUs only), then one line per IRQ: "N: count… chip hwirq-trigger name".
// Lines it cannot make sense of are skipped; a missing file gives an empty
// map.
func parseInterrupts(fsys fs.FS) map[int]irqInfo {
	s, err := readString(fsys, interruptsPath)
	out := map[int]irqInfo{}
	if err != nil {
		return out
	}
	var cols []int
	for line := range strings.Lines(s) {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if cols == nil && strings.HasPrefix(f[0], "CPU") {
			for _, h := range f {
				n, err := strconv.Atoi(strings.TrimPrefix(h, "CPU"))
				if err != nil {
					n = -1
				}
				cols = append(cols, n)
			}
			continue
		}
		irq, err := strconv.Atoi(strings.TrimSuffix(f[0], ":"))
		if err != nil || !strings.HasSuffix(f[0], ":") {
			continue
		}
		info := irqInfo{counts: map[int]uint64{}}
		i := 1
		for ; i < len(f) && i-1 < len(cols); i++ {
			n, err := strconv.ParseUint(f[i], 10, 64)
			if err != nil {
				break
			}
			if cols[i-1] >= 0 {
				info.counts[cols[i-1]] = n
			}
		}
		rest := f[i:]
		// The name follows the "hwirq-edge" / "-level" / "-fasteoi" token
		// when there is one; otherwise take the last field.
		for j, t := range rest {
			if strings.HasSuffix(t, "-edge") || strings.HasSuffix(t, "-level") || strings.HasSuffix(t, "-fasteoi") {
				if j+1 < len(rest) {
					info.name = strings.Join(rest[j+1:], " ")
				}
				break
			}
		}
		if info.name == "" && len(rest) > 0 {
			info.name = rest[len(rest)-1]
		}
		out[irq] = info
	}
	return out
}

// checkIRQOnSpinner reads /proc/irq/N/smp_affinity_list for every IRQ and
// names those allowed on a spinner CPU, with their names and counts from
// /proc/interrupts when present. Where /proc/irq/N/effective_affinity_list
// exists it tells whether the IRQ is routed to a spinner CPU now or only
// allowed there (the kernel may move it there later, on a vector change or
// CPU hotplug). ID "irq-on-spinner": warn when an IRQ is routed (or may be:
// no effective affinity) to a spinner CPU, info when IRQs are only allowed
// there, or when /proc/irq cannot be listed or no IRQ's affinity can be
// read, ok otherwise. An IRQ whose file is garbage is named in the evidence
// and otherwise skipped.
func checkIRQOnSpinner(h *host) []Finding {
	const id = "irq-on-spinner"
	if len(h.spinners) == 0 {
		return nil
	}
	ents, err := fs.ReadDir(h.fsys, irqDir)
	if err != nil {
		return unknown(id, "IRQ affinity", &fileError{irqDir, unwrapPathError(err)})
	}
	var irqs []int
	for _, e := range ents {
		if n, err := strconv.Atoi(e.Name()); err == nil && e.IsDir() {
			irqs = append(irqs, n)
		}
	}
	slices.Sort(irqs)
	r := readIRQs(h, irqs)
	tail := ""
	if len(r.bad) > 0 {
		tail = "; " + strings.Join(r.bad, "; ")
	}
	switch {
	case r.read == 0:
		return one(id, Info, "IRQ affinity unknown: no /proc/irq/N/smp_affinity_list could be read",
			fmt.Sprintf("%d IRQ directories under /%s, no readable smp_affinity_list%s", len(irqs), irqDir, tail), "")
	case len(r.hits) == 0:
		return one(id, OK, "no IRQ is allowed on a spinner CPU",
			fmt.Sprintf("%d IRQs read, none with spinner %s in smp_affinity_list%s", r.read, cpus(h.spinners), tail), "")
	}
	var nums []string
	for _, x := range r.hits {
		nums = append(nums, strconv.Itoa(x.irq))
	}
	ev, fix := irqEvidence(h, r.hits)+tail, irqFix(h, r.hits)
	if r.routed == 0 {
		return one(id, Info,
			fmt.Sprintf("%s allowed on spinner CPUs but routed elsewhere now: %s", count(len(r.hits), "IRQ is", "IRQs are"), strings.Join(nums, " ")),
			ev, fix)
	}
	return one(id, Warn,
		fmt.Sprintf("%s land on spinner CPUs (%d routed there now): %s", count(len(r.hits), "IRQ may", "IRQs may"), r.routed, strings.Join(nums, " ")),
		ev, fix)
}

// irqHit is an IRQ allowed on a spinner CPU.
type irqHit struct {
	irq    int
	aff    affinity.CPUSet
	eff    string // effective_affinity_list, "" if unknown
	routed bool   // effective affinity includes a spinner CPU, or is unknown
}

// irqFacts is what /proc/irq/N says about the spinner CPUs.
type irqFacts struct {
	hits   []irqHit
	bad    []string // unreadable or garbage smp_affinity_list files
	read   int      // IRQs whose smp_affinity_list was read
	routed int      // hits routed to a spinner CPU now (or maybe)
}

// readIRQs reads smp_affinity_list, and effective_affinity_list where an
// IRQ is allowed on a spinner, for each IRQ in irqs.
func readIRQs(h *host, irqs []int) irqFacts {
	var r irqFacts
	for _, n := range irqs {
		base := irqDir + "/" + strconv.Itoa(n)
		aff, err := readList(h.fsys, base+"/smp_affinity_list")
		if err != nil {
			if !notExist(err) {
				r.bad = append(r.bad, err.Error())
			}
			continue
		}
		r.read++
		if len(aff.Intersect(h.spinners)) == 0 {
			continue
		}
		x := irqHit{irq: n, aff: aff, routed: true}
		if eff, err := readList(h.fsys, base+"/effective_affinity_list"); err == nil && len(eff) > 0 {
			x.eff, x.routed = eff.String(), len(eff.Intersect(h.spinners)) > 0
		}
		if x.routed {
			r.routed++
		}
		r.hits = append(r.hits, x)
	}
	return r
}

// irqEvidence names each hit, where it may and does go, and how many times
// it was taken on the spinner CPUs (from /proc/interrupts).
func irqEvidence(h *host, hits []irqHit) string {
	names := parseInterrupts(h.fsys)
	var ev []string
	for _, x := range hits {
		e := fmt.Sprintf("IRQ %d", x.irq)
		info, known := names[x.irq]
		if known && info.name != "" {
			e += " " + info.name
		}
		e += " allowed on " + x.aff.String()
		if x.eff != "" {
			e += ", routed to " + x.eff
		}
		if known {
			var on uint64
			for _, c := range h.spinners {
				on += info.counts[c]
			}
			e += fmt.Sprintf(", %d taken on spinner CPUs", on)
		}
		ev = append(ev, e)
	}
	return strings.Join(ev, "; ")
}

// irqFix moves each hit to the housekeeping CPUs and says what refuses the
// move or undoes it.
func irqFix(h *host, hits []irqHit) string {
	if len(h.housekeeping) == 0 {
		return "# no housekeeping CPU is left for IRQs: keep at least one online CPU out of the spinner set"
	}
	var fix []string
	for _, x := range hits {
		fix = append(fix, fmt.Sprintf("echo %s > /%s/%d/smp_affinity_list", h.housekeeping, irqDir, x.irq))
	}
	return lines(append(fix,
		"# an IRQ that cannot move (the timer, managed IRQs of NVMe and some multiqueue NICs) refuses this write with EIO; for managed ones: "+kernelParam(isolcpusParam(h.cmdline, h.spinners)),
		"# irqbalance moves IRQs back unless told: IRQBALANCE_BANNED_CPULIST="+h.spinners.String()+
			" in /etc/default/irqbalance (Debian/Ubuntu) or /etc/sysconfig/irqbalance (RHEL), then: systemctl restart irqbalance")...)
}

// checkIRQAffinity reads /proc/irq/default_smp_affinity (a hex mask), the
// affinity new IRQs get, and the irqaffinity= parameter that sets it at boot.
// ID "irqaffinity": warn when the default includes a spinner CPU, info when
// the file is missing or garbage, ok otherwise.
func checkIRQAffinity(h *host) []Finding {
	const id = "irqaffinity"
	if len(h.spinners) == 0 {
		return nil
	}
	s, err := readString(h.fsys, irqDefaultPath)
	if err != nil {
		return unknown(id, "default IRQ affinity", err)
	}
	set, err := parseMask(s)
	if err != nil {
		return unknown(id, "default IRQ affinity", garbage(irqDefaultPath, s))
	}
	ev := fmt.Sprintf("/%s = %s (%s)", irqDefaultPath, s, cpus(set))
	if h.cmdline != nil {
		ev += "; " + h.cmdline.param("irqaffinity")
	}
	on := set.Intersect(h.spinners)
	if len(on) == 0 {
		return one(id, OK, "new IRQs default to non-spinner CPUs", ev, "")
	}
	fix := "# no housekeeping CPU is left for IRQs: keep at least one online CPU out of the spinner set"
	if len(h.housekeeping) > 0 {
		fix = lines(
			fmt.Sprintf("echo %s > /%s", formatMask(h.housekeeping), irqDefaultPath),
			"# persistent: "+kernelParam("irqaffinity="+h.housekeeping.String()))
	}
	return one(id, Warn, "new IRQs may be placed on spinner "+cpus(on)+" (default IRQ affinity)", ev, fix)
}

// parseMask parses a hex CPU mask as in /proc/irq/default_smp_affinity:
// 32-bit groups separated by commas, most significant first.
func parseMask(s string) (affinity.CPUSet, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, errGarbage
	}
	groups := strings.Split(s, ",")
	if len(groups)*32 > affinity.MaxCPU {
		return nil, errGarbage
	}
	var set affinity.CPUSet
	for gi := range groups {
		g := groups[len(groups)-1-gi]
		v, err := strconv.ParseUint(g, 16, 32)
		if err != nil || len(g) > 8 {
			return nil, errGarbage
		}
		for bit := range 32 {
			if v&(1<<bit) != 0 {
				set = append(set, gi*32+bit)
			}
		}
	}
	return set, nil
}

// formatMask is the inverse of parseMask, sized to cover the highest CPU.
func formatMask(set affinity.CPUSet) string {
	hi := 0
	for _, c := range set {
		hi = max(hi, c)
	}
	groups := make([]uint32, hi/32+1)
	for _, c := range set {
		groups[c/32] |= 1 << (c % 32)
	}
	parts := make([]string, len(groups))
	for i, g := range groups {
		w := 8
		if i == len(groups)-1 {
			w = 0
		}
		parts[len(groups)-1-i] = fmt.Sprintf("%0*x", w, g)
	}
	return strings.Join(parts, ",")
}
