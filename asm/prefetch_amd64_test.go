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
	if has := cpuinfoHas(t, "3dnowprefetch"); has != hasPrefetchW {
		t.Errorf("hasPrefetchW = %v, but /proc/cpuinfo 3dnowprefetch present = %v", hasPrefetchW, has)
	}
}

// TestDemoteDetect: Demote is used where CPUID reports CLDEMOTE, the flag
// Linux calls cldemote.
func TestDemoteDetect(t *testing.T) {
	if has := cpuinfoHas(t, "cldemote"); has != HasDemote() {
		t.Errorf("HasDemote() = %v, but /proc/cpuinfo cldemote present = %v", HasDemote(), has)
	}
}

// cpuinfoHas reports whether /proc/cpuinfo's flags name flag; it skips
// the test where there is nothing to read.
func cpuinfoHas(t *testing.T, flag string) bool {
	t.Helper()
	info, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		t.Skip("no /proc/cpuinfo to compare with")
	}
	flags, ok := cpuinfoFlags(string(info))
	if !ok {
		t.Skip("no flags line in /proc/cpuinfo")
	}
	return strings.Contains(flags+" ", " "+flag+" ")
}
