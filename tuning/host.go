package tuning

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"slices"
	"strconv"
	"strings"

	"github.com/spinwire/spinwire/affinity"
)

// Paths, relative to the FS root ("/").
const (
	cpuDir          = "sys/devices/system/cpu"
	cmdlinePath     = "proc/cmdline"
	onlinePath      = cpuDir + "/online"
	isolatedPath    = cpuDir + "/isolated"
	nohzFullPath    = cpuDir + "/nohz_full"
	cgroupIsolPath  = "sys/fs/cgroup/cpuset.cpus.isolated"
	idleDriverPath  = cpuDir + "/cpuidle/current_driver"
	smtControlPath  = cpuDir + "/smt/control"
	thpPath         = "sys/kernel/mm/transparent_hugepage/enabled"
	clocksourceDir  = "sys/devices/system/clocksource/clocksource0"
	clocksourcePath = clocksourceDir + "/current_clocksource"
	clocksAvailPath = clocksourceDir + "/available_clocksource"
	cpuinfoPath     = "proc/cpuinfo"
	irqDir          = "proc/irq"
	irqDefaultPath  = irqDir + "/default_smp_affinity"
	interruptsPath  = "proc/interrupts"
	sysctlDir       = "proc/sys/kernel"
)

// maxFileSize bounds every read: the largest file read here is
// /proc/interrupts, tens of kilobytes on a big host.
const maxFileSize = 4 << 20

// host is what Check learns once and every check shares.
type host struct {
	fsys fs.FS

	cmdline    *cmdline // nil when /proc/cmdline could not be read
	cmdlineErr error

	online    affinity.CPUSet
	onlineErr error // non-nil: online is a guess from the cpuN directories

	isolated    affinity.CPUSet // sysfs isolated ∪ cgroup isolated partitions
	isolatedSys string          // raw /sys/devices/system/cpu/isolated ("" if absent)
	isolatedCg  string          // raw /sys/fs/cgroup/cpuset.cpus.isolated
	isolatedErr error           // the sysfs file could not be read or parsed

	spinners     affinity.CPUSet
	spinnersHow  string // how spinners were chosen, for the evidence
	spinnersSet  bool   // given by the caller (not a default)
	spinnersBad  affinity.CPUSet
	housekeeping affinity.CPUSet // where IRQs and timers should go; see newHost
}

func newHost(fsys fs.FS, spinners []int) *host {
	h := &host{fsys: fsys}
	if s, err := readString(fsys, cmdlinePath); err != nil {
		h.cmdlineErr = err
	} else {
		h.cmdline = parseCmdline(s)
	}

	h.online, h.onlineErr = readList(fsys, onlinePath)
	if h.onlineErr != nil {
		h.online = cpuDirs(fsys)
	}

	var sys, cg affinity.CPUSet
	if s, err := readString(fsys, isolatedPath); err != nil {
		h.isolatedErr = err
	} else if sys, err = affinity.ParseList(s); err != nil {
		h.isolatedErr = garbage(isolatedPath, s)
	} else {
		h.isolatedSys = s
	}
	if s, err := readString(fsys, cgroupIsolPath); err == nil {
		if cg, err = affinity.ParseList(s); err == nil {
			h.isolatedCg = s
		}
	}
	h.isolated = union(sys, cg)

	if len(spinners) > 0 {
		h.spinners = union(spinners)
		h.spinnersHow, h.spinnersSet = "given by the caller", true
		if len(h.online) > 0 {
			h.spinnersBad = h.spinners.Minus(h.online)
		}
	} else {
		iso := h.isolated
		if len(h.online) > 0 {
			iso = iso.Intersect(h.online)
		}
		switch {
		case len(iso) > 0:
			h.spinners, h.spinnersHow = iso, "default: the isolated CPUs"
		case len(h.online) > 1:
			h.spinners, h.spinnersHow = h.online.Minus(affinity.CPUSet{0}), "default: no CPU is isolated, so every online CPU except 0"
		default:
			h.spinners, h.spinnersHow = h.online, "default: the only online CPU"
		}
	}
	// Housekeeping CPUs take the IRQs and timers moved off the spinners:
	// online, neither isolated nor a spinner nor a spinner's SMT sibling,
	// dropping these conditions from the last when nothing is left.
	var sibs affinity.CPUSet
	for _, c := range h.spinners {
		if s, err := siblings(fsys, c); err == nil {
			sibs = append(sibs, s...)
		}
	}
	sibs = union(sibs)
	for _, hk := range []affinity.CPUSet{
		h.online.Minus(h.isolated).Minus(h.spinners).Minus(sibs),
		h.online.Minus(h.isolated).Minus(h.spinners),
		h.online.Minus(h.spinners),
	} {
		if len(hk) > 0 {
			h.housekeeping = hk
			break
		}
	}
	return h
}

// cpuDirs lists cpuN directories under /sys/devices/system/cpu: a stand-in
// for the online list when that file is missing or garbage.
func cpuDirs(fsys fs.FS) affinity.CPUSet {
	ents, _ := fs.ReadDir(fsys, cpuDir)
	var set affinity.CPUSet
	for _, e := range ents {
		if n, ok := strings.CutPrefix(e.Name(), "cpu"); ok {
			if c, err := strconv.Atoi(n); err == nil && c >= 0 && c < affinity.MaxCPU {
				set = append(set, c)
			}
		}
	}
	return union(set)
}

// errGarbage marks a file whose content is not what the kernel writes there.
var errGarbage = errors.New("unexpected content")

// fileError says which file a check could not use and why.
type fileError struct {
	path string // relative to the FS root
	err  error
}

func (e *fileError) Error() string {
	switch {
	case errors.Is(e.err, fs.ErrNotExist):
		return "/" + e.path + " not found"
	case errors.Is(e.err, fs.ErrPermission):
		return "/" + e.path + " not readable (permission denied)"
	}
	return "/" + e.path + ": " + e.err.Error()
}

func (e *fileError) Unwrap() error { return e.err }

func garbage(path, content string) error {
	if len(content) > 60 {
		content = content[:60] + "…"
	}
	return &fileError{path, fmt.Errorf("%w %q", errGarbage, content)}
}

func notExist(err error) bool { return errors.Is(err, fs.ErrNotExist) }

// readString reads a small file (at most maxFileSize bytes) and trims
// surrounding white space.
func readString(fsys fs.FS, path string) (string, error) {
	f, err := fsys.Open(path)
	if err != nil {
		return "", &fileError{path, unwrapPathError(err)}
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxFileSize))
	if err != nil {
		return "", &fileError{path, unwrapPathError(err)}
	}
	return strings.TrimSpace(string(b)), nil
}

func unwrapPathError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// readList reads a file in the kernel's cpulist format.
func readList(fsys fs.FS, path string) (affinity.CPUSet, error) {
	s, err := readString(fsys, path)
	if err != nil {
		return nil, err
	}
	set, err := affinity.ParseList(s)
	if err != nil {
		return nil, garbage(path, s)
	}
	return set, nil
}

// readInt reads a file holding one decimal integer.
func readInt(fsys fs.FS, path string) (int64, error) {
	s, err := readString(fsys, path)
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, garbage(path, s)
	}
	return n, nil
}

// cpuPath is the sysfs path of a file of one CPU, e.g. cpuPath(3,
// "cpufreq/scaling_governor").
func cpuPath(cpu int, rel string) string {
	return cpuDir + "/cpu" + strconv.Itoa(cpu) + "/" + rel
}

// cmdline is a parsed kernel command line.
type cmdline struct {
	raw    string            // the kernel's part, up to a lone "--"
	init   bool              // arguments for init followed "--" (not shown)
	params map[string]string // name (dashes as underscores) → last value; "" for a bare flag
}

// parseCmdline splits s the way the kernel does: white space separates
// parameters, double quotes protect spaces in values, and everything after a
// lone "--" belongs to init. Dashes and underscores in a name are the same
// character to the kernel, so names are stored with underscores.
func parseCmdline(s string) *cmdline {
	c := &cmdline{raw: strings.TrimSpace(s), params: map[string]string{}}
	var tok strings.Builder
	inQuote := false
	start := 0 // byte offset of the token being built
	flush := func(end int) bool {
		t := tok.String()
		tok.Reset()
		if t == "" {
			return true
		}
		if t == "--" && !strings.Contains(s[start:end], `"`) {
			c.raw = strings.TrimSpace(s[:start])
			c.init = strings.TrimSpace(s[end:]) != ""
			return false
		}
		name, val, _ := strings.Cut(t, "=")
		c.params[strings.ReplaceAll(name, "-", "_")] = val
		return true
	}
	for i, r := range s {
		switch {
		case r == '"':
			if tok.Len() == 0 && !inQuote {
				start = i
			}
			inQuote = !inQuote
		case !inQuote && (r == ' ' || r == '\t' || r == '\n'):
			if !flush(i) {
				return c
			}
		default:
			if tok.Len() == 0 && !inQuote {
				start = i
			}
			tok.WriteRune(r)
		}
	}
	flush(len(s))
	return c
}

// get returns the value of parameter name and whether it is present.
func (c *cmdline) get(name string) (string, bool) {
	if c == nil {
		return "", false
	}
	v, ok := c.params[name]
	return v, ok
}

// param formats a parameter for evidence: "name=value", "name" or
// "no name= parameter".
func (c *cmdline) param(name string) string {
	v, ok := c.get(name)
	switch {
	case !ok:
		return "no " + name + "= on the command line"
	case v == "":
		return name
	}
	return name + "=" + v
}

// isolcpusFlags splits an isolcpus= value into its flags and CPU list:
// "managed_irq,domain,2-7" → ["managed_irq" "domain"], "2-7".
func isolcpusFlags(v string) (flags []string, list string) {
	parts := strings.Split(v, ",")
	i := 0
	for i < len(parts) && parts[i] != "" && (parts[i][0] < '0' || parts[i][0] > '9') {
		flags = append(flags, parts[i])
		i++
	}
	return flags, strings.Join(parts[i:], ",")
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

func itoa(n int) string { return strconv.Itoa(n) }

// words formats CPUs for a shell loop: {2,3,5} → "2 3 5".
func words(set []int) string {
	s := make([]string, len(set))
	for i, c := range set {
		s[i] = itoa(c)
	}
	return strings.Join(s, " ")
}

// cpus names a CPU set for a sentence: "CPU 3", "CPUs 2-7", "no CPU".
func cpus(set affinity.CPUSet) string {
	switch len(set) {
	case 0:
		return "no CPU"
	case 1:
		return "CPU " + set.String()
	}
	return "CPUs " + set.String()
}

// verb picks the singular or plural form to agree with set.
func verb(set affinity.CPUSet, one, many string) string {
	if len(set) == 1 {
		return one
	}
	return many
}

func isAre(set affinity.CPUSet) string { return verb(set, "is", "are") }

// count formats n with the singular or plural phrase: count(1, "IRQ is",
// "IRQs are") = "1 IRQ is".
func count(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return itoa(n) + " " + many
}

// union returns the sorted, duplicate-free union of the sets; the inputs are
// not modified.
func union(sets ...[]int) affinity.CPUSet {
	var out affinity.CPUSet
	for _, s := range sets {
		out = append(out, s...)
	}
	slices.Sort(out)
	return slices.Compact(out)
}
