package agent

import (
	"runtime"
	"testing"

	"github.com/spinwire/spinwire/affinity"
)

// needCPUs skips tb unless two CPUs can be pinned, and returns them.
func needCPUs(tb testing.TB) (int, int) {
	tb.Helper()
	allowed, err := affinity.Allowed()
	if err != nil || len(allowed) < 2 || runtime.NumCPU() < 2 {
		tb.Skipf("needs two CPUs to pin spinners to (allowed %v, err %v)", allowed, err)
	}
	return allowed[len(allowed)-2], allowed[len(allowed)-1]
}
