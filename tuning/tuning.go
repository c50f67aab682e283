package tuning

import (
	"cmp"
	"io/fs"
	"os"
	"slices"
)

// Severity ranks a Finding. The zero value is OK.
type Severity int

// Severities, from harmless to blocking.
const (
	// OK: the check ran and found nothing to fix. Check returns OK findings
	// only when Options.IncludeOK is set.
	OK Severity = iota
	// Info: worth knowing, or the check could not tell (a file is missing or
	// unreadable). Nothing here costs latency by itself.
	Info
	// Warn: costs tail latency on this host; the Fix says how to remove it.
	Warn
	// Crit: spinners will interfere with each other or starve; fix before
	// measuring anything.
	Crit
)

var severityNames = [...]string{OK: "ok", Info: "info", Warn: "warn", Crit: "crit"}

// String returns "ok", "info", "warn" or "crit" (and "Severity(n)" for a value
// outside the four).
func (s Severity) String() string {
	if s >= 0 && int(s) < len(severityNames) {
		return severityNames[s]
	}
	return "Severity(" + itoa(int(s)) + ")"
}

// MarshalText encodes s as its String form, so JSON carries "warn", not 2.
func (s Severity) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText parses the String form of a Severity.
func (s *Severity) UnmarshalText(b []byte) error {
	for i, n := range severityNames {
		if string(b) == n {
			*s = Severity(i)
			return nil
		}
	}
	return &fs.PathError{Op: "parse severity", Path: string(b), Err: fs.ErrInvalid}
}

// Finding is one result of Check: what is wrong (or fine) on the host, the
// evidence read from it, and the exact fix.
type Finding struct {
	// ID names the check, stable across releases: "isolcpus", "irq-on-spinner",
	// "smt-sibling", ... (see the package documentation for the list). Check
	// returns at most one Finding per ID.
	ID string `json:"id"`
	// Severity ranks the finding.
	Severity Severity `json:"severity"`
	// Summary is one line saying what was found.
	Summary string `json:"summary"`
	// Evidence quotes the files and values the verdict rests on.
	Evidence string `json:"evidence"`
	// Fix is what to do, one item per line: a shell command to copy as is, a
	// line "kernel parameter: ..." naming parameters to add to the kernel
	// command line (tuning/README.md shows how), or a Go line to put in the
	// program. Lines that start with "#" are notes. Empty when nothing needs
	// fixing.
	Fix string `json:"fix"`
}

// Options configures Check. The zero value checks the live host for the CPUs
// a planner would choose, with the running process's Go settings.
type Options struct {
	// FS is the root of the file system to inspect, rooted at "/" (paths are
	// read as "proc/cmdline", "sys/devices/system/cpu/online", ...). Nil means
	// os.DirFS("/"). Tests pass fixture trees or fstest.MapFS.
	FS fs.FS
	// SpinnerCPUs are the CPUs the spinners will be pinned to. Empty means
	// the default: every isolated online CPU; if none, every online CPU except 0;
	// if CPU 0 is the only one, CPU 0.
	SpinnerCPUs []int
	// Runtime is the Go runtime configuration to judge. Nil means the running
	// process's, read by ReadGoSettings.
	Runtime *GoSettings
	// CPU is the processor to judge. Nil means HostCPU when FS is nil too,
	// and the processor that FS's /proc/cpuinfo describes when FS is set: a
	// tree may come from another host, and the running processor's CPUID
	// says nothing about it.
	CPU *CPU
	// IncludeOK makes Check also return the checks that passed (Severity OK),
	// so the caller can show what was checked. By default only findings of
	// Info and above are returned.
	IncludeOK bool
}

// Check inspects the host through opts.FS and returns its findings, worst
// first (checks of equal severity keep a fixed order: spinner CPUs, kernel
// command line, CPUs, interrupts, memory and sysctls, then the Go runtime).
// It never fails: a file that is missing or unreadable yields an Info finding
// saying the check could not tell, and the other checks go on. Check reads a
// few hundred small files; it costs milliseconds and is meant to run once at
// start-up or from `pingpong -check`, never on a hot path.
func Check(opts Options) []Finding {
	fsys := opts.FS
	if fsys == nil {
		fsys = os.DirFS("/")
	}
	rt := opts.Runtime
	if rt == nil {
		s := ReadGoSettings()
		rt = &s
	}
	var cpu CPU
	switch {
	case opts.CPU != nil:
		cpu = *opts.CPU
	case opts.FS != nil:
		cpu = cpuFromInfo(fsys)
	default:
		cpu = HostCPU()
	}
	h := newHost(fsys, opts.SpinnerCPUs, cpu)
	var out []Finding
	for _, c := range hostChecks {
		out = append(out, c(h)...)
	}
	out = append(out, goChecks(*rt, len(h.spinners))...)
	if !opts.IncludeOK {
		out = slices.DeleteFunc(out, func(f Finding) bool { return f.Severity == OK })
	}
	slices.SortStableFunc(out, func(a, b Finding) int { return cmp.Compare(b.Severity, a.Severity) })
	return out
}

// hostChecks run in this order; each returns zero or one Finding per ID.
var hostChecks = []func(*host) []Finding{
	checkSpinnerCPUs,
	checkCmdline,
	checkIsolcpus,
	checkNohzFull,
	checkRCUNocbs,
	checkRCUNocbPoll,
	checkSkewTick,
	checkKthreads,
	checkMCE,
	checkAudit,
	checkMitigations,
	checkIdlePoll,
	checkTSCReliable,
	checkProcessor,
	checkSMT,
	checkGovernor,
	checkFreqDriver,
	checkTurbo,
	checkCState,
	checkClocksource,
	checkInvariantTSC,
	checkIRQAffinity,
	checkIRQOnSpinner,
	checkWorkqueue,
	checkWatchdog,
	checkTHP,
	checkNUMABalancing,
	checkSchedRT,
	checkVMStat,
	checkTimerMigration,
	checkCpuset,
	checkContainer,
}

// Worst returns the highest Severity in fs, OK for none. A command can exit
// non-zero when Worst(findings) >= Warn.
func Worst(fs []Finding) Severity {
	w := OK
	for _, f := range fs {
		w = max(w, f.Severity)
	}
	return w
}
