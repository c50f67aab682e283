package tuning

import (
	"fmt"
	"io/fs"
	"os"

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
	p := affinity.PlacementFS(fsys, cpu, others)
	if p.IsolatedKnown && !p.Isolated.Contains(cpu) {
		var c *cmdline
		if s, err := readString(fsys, cmdlinePath); err == nil {
			c = parseCmdline(s)
		}
		out = append(out, Finding{ID: "isolcpus", Severity: Warn,
			Summary:  fmt.Sprintf("spinner CPU %d is not isolated: the scheduler will run other tasks there", cpu),
			Evidence: fmt.Sprintf("/%s = %q", isolatedPath, p.Isolated.String()),
			Fix:      kernelParam(isolcpusParam(c, affinity.CPUSet{cpu}))})
	}
	if len(p.Shared) > 0 {
		out = append(out, Finding{ID: "smt-shared-core", Severity: Crit,
			Summary:  fmt.Sprintf("spinner CPU %d shares a physical core with spinner %s", cpu, cpus(p.Shared)),
			Evidence: fmt.Sprintf("/%s siblings = %q", cpuPath(cpu, "topology"), p.Siblings.String()),
			Fix:      "# pin the spinners to distinct physical cores (see: pingpong -check)"})
	}
	return out
}
