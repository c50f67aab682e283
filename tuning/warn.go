package tuning

import (
	"fmt"
	"io/fs"
	"log"
	"os"
	"strings"
	"sync"

	"github.com/spinwire/spinwire/affinity"
)

// SpinnerWarnings returns what is wrong with pinning a spinner to cpu on the
// live host (os.DirFS("/")), given the CPUs of the process's other
// spinners: the CPU is not isolated ("isolcpus", warn), or it shares a
// physical core with another spinner ("smt-shared-core", crit). It returns
// nil when neither holds or the host cannot tell. Cost: a handful of sysfs
// reads; call it once, not per message.
func SpinnerWarnings(cpu int, otherSpinners []int) []Finding {
	return spinnerWarnings(os.DirFS("/"), cpu, otherSpinners)
}

func spinnerWarnings(fsys fs.FS, cpu int, others []int) []Finding {
	var out []Finding
	iso, err := readList(fsys, isolatedPath)
	if err == nil {
		if cg, err := readList(fsys, cgroupIsolPath); err == nil {
			iso = union(iso, cg)
		}
		if !iso.Contains(cpu) {
			var c *cmdline
			if s, err := readString(fsys, cmdlinePath); err == nil {
				c = parseCmdline(s)
			}
			out = append(out, Finding{ID: "isolcpus", Severity: Warn,
				Summary:  fmt.Sprintf("spinner CPU %d is not isolated: the scheduler will run other tasks there", cpu),
				Evidence: fmt.Sprintf("/%s = %q", isolatedPath, iso.String()),
				Fix:      kernelParam(isolcpusParam(c, affinity.CPUSet{cpu}))})
		}
	}
	if sib, err := siblings(fsys, cpu); err == nil {
		var shared affinity.CPUSet
		for _, o := range others {
			if o != cpu && sib.Contains(o) {
				shared = append(shared, o)
			}
		}
		if shared = union(shared); len(shared) > 0 {
			out = append(out, Finding{ID: "smt-shared-core", Severity: Crit,
				Summary:  fmt.Sprintf("spinner CPU %d shares a physical core with spinner %s", cpu, cpus(shared)),
				Evidence: fmt.Sprintf("/%s = %q", cpuPath(cpu, "topology/thread_siblings_list"), sib.String()),
				Fix:      "# pin the spinners to distinct physical cores (see: pingpong -check)"})
		}
	}
	return out
}

var warnOnce sync.Once

// WarnOnce logs, at most once per process, one line summing up
// SpinnerWarnings(cpu, others) through logf (log.Printf when nil). The first
// call decides: later calls, from any goroutine, return at the cost of one
// atomic load and log nothing, even for another CPU. Nothing is logged when
// there is no warning.
func WarnOnce(logf func(format string, args ...any), cpu int, others []int) {
	warnOnce.Do(func() { warnNow(logf, SpinnerWarnings(cpu, others)) })
}

func warnNow(logf func(format string, args ...any), fs []Finding) {
	if len(fs) == 0 {
		return
	}
	if logf == nil {
		logf = log.Printf
	}
	parts := make([]string, len(fs))
	for i, f := range fs {
		parts[i] = f.Summary + " [" + f.ID + "]"
		if f.Fix != "" {
			parts[i] += " (fix: " + strings.ReplaceAll(f.Fix, "\n", "; ") + ")"
		}
	}
	logf("spinwire: %s; run pingpong -check for the full host report", strings.Join(parts, "; "))
}
