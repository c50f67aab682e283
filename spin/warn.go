package spin

import (
	"io/fs"
	"os"
	"strconv"
	"strings"
	"sync"

	"github.com/spinwire/spinwire/affinity"
)

// cpuWarning returns the line an Agent logs when it pins itself to cpu
// while this process's other agents run on others: the CPU is not isolated
// (isolcpus= or a cgroup isolated partition), or it shares a physical core
// with another agent. It returns "" when neither holds or fsys (rooted at
// "/") cannot tell (affinity.PlacementFS).
//
// The IDs in brackets are tuning's finding IDs; tuning.Check (pingpong
// -check) gives the exact fix for the host. spin does not import tuning:
// its report code would be linked into, and resident in, every spinning
// process.
func cpuWarning(fsys fs.FS, cpu int, others []int) string {
	var parts []string
	cpuName := "spinner CPU " + strconv.Itoa(cpu)
	p := affinity.PlacementFS(fsys, cpu, others)
	if p.IsolatedKnown && !p.Isolated.Contains(cpu) {
		parts = append(parts, cpuName+" is not isolated: the scheduler will run other tasks there [isolcpus]")
	}
	if len(p.Shared) > 0 {
		parts = append(parts, cpuName+" shares a physical core with spinner CPU "+p.Shared.String()+" [smt-shared-core]")
	}
	if len(parts) == 0 {
		return ""
	}
	return "spinwire: " + strings.Join(parts, "; ") + "; run pingpong -check for this host's fixes"
}

// warnOnce makes the first pinned Agent of a process decide whether the
// process logs a warning about its CPUs.
var warnOnce sync.Once

// warnCPU logs cpuWarning for the live host and the CPUs of this process's
// other pinned agents through a.Logf, at most once per process: later
// calls, from any agent and for any CPU, cost one atomic load and log
// nothing.
func (a *Agent) warnCPU(cpu int) {
	warnOnce.Do(func() {
		if w := cpuWarning(hostFS, cpu, pinnedAgents.others(cpu)); w != "" {
			a.warn(w)
		}
	})
}

// hostFS is the live root, for the warning's reads.
var hostFS fs.FS = os.DirFS("/")

// warn writes one line through Logf, or to standard error when Logf is nil.
func (a *Agent) warn(line string) {
	if a.Logf != nil {
		a.Logf("%s", line)
		return
	}
	os.Stderr.WriteString(line + "\n")
}
