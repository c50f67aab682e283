//go:build !noasm

package asm

import (
	"os"
	"strings"
	"testing"
)

// TestPrefetchWDetect: PrefetchW is used where CPUID reports PRFCHW, the
// bit Linux calls 3dnowprefetch.
func TestPrefetchWDetect(t *testing.T) {
	info, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		t.Skip("no /proc/cpuinfo to compare with")
	}
	flags, ok := cpuinfoFlags(string(info))
	if !ok {
		t.Skip("no flags line in /proc/cpuinfo")
	}
	if has := strings.Contains(flags+" ", " 3dnowprefetch "); has != hasPrefetchW {
		t.Errorf("hasPrefetchW = %v, but /proc/cpuinfo 3dnowprefetch present = %v", hasPrefetchW, has)
	}
}
