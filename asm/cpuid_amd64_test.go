//go:build !noasm

package asm

import (
	"os"
	"slices"
	"strings"
	"testing"
)

// TestCPUID: leaf 0 names the vendor that Linux reports, and the RDTSCP
// bit agrees with the kernel's flag.
func TestCPUID(t *testing.T) {
	if !HasCPUID {
		t.Fatal("HasCPUID is false in an amd64 build with assembly")
	}
	maxStd, b, c, d := CPUID(0, 0)
	var v [12]byte
	for i, r := range [...]uint32{b, d, c} { // the vendor is EBX, EDX, ECX
		v[4*i], v[4*i+1], v[4*i+2], v[4*i+3] = byte(r), byte(r>>8), byte(r>>16), byte(r>>24)
	}
	vendor := string(v[:])
	if maxStd < 1 || strings.TrimSpace(vendor) == "" {
		t.Errorf("CPUID(0, 0): max leaf %#x, vendor %q", maxStd, vendor)
	}
	info, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		t.Logf("vendor %q, max basic leaf %#x; no /proc/cpuinfo to compare with", vendor, maxStd)
		return
	}
	if !strings.Contains(string(info), "vendor_id\t: "+vendor+"\n") {
		t.Errorf("CPUID vendor %q is not /proc/cpuinfo's vendor_id", vendor)
	}
	if flags, ok := cpuinfoFlags(string(info)); ok {
		if has := strings.Contains(flags+" ", " rdtscp "); has != detectRDTSCP() {
			t.Errorf("detectRDTSCP() = %v, but /proc/cpuinfo rdtscp present = %v", detectRDTSCP(), has)
		}
	}
	t.Logf("vendor %q, max basic leaf %#x, RDTSCP %v", vendor, maxStd, detectRDTSCP())
}

// cpuinfoFlags returns the first "flags" line of /proc/cpuinfo, after the
// colon.
func cpuinfoFlags(info string) (string, bool) {
	for line := range strings.Lines(info) {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "flags" {
			return strings.TrimRight(v, "\n"), true
		}
	}
	return "", false
}

// TestCopyKindsMatchCPUInfo: the vector routines chosen from
// golang.org/x/sys/cpu are the ones the kernel's flags allow (Linux clears
// the avx2 and avx512 flags too when it does not save that state).
func TestCopyKindsMatchCPUInfo(t *testing.T) {
	info, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		t.Skipf("no /proc/cpuinfo: %v", err)
	}
	flags, ok := cpuinfoFlags(string(info))
	if !ok {
		t.Skip("no flags line in /proc/cpuinfo")
	}
	has := func(f string) bool { return strings.Contains(flags+" ", " "+f+" ") }
	var want []copyKind
	if has("avx512f") && has("avx512vl") {
		want = append(want, copyKindAVX512)
	}
	if has("avx2") {
		want = append(want, copyKindAVX2)
	}
	if got := copyKinds(); !slices.Equal(got, want) {
		t.Errorf("copyKinds() = %v, /proc/cpuinfo flags say %v", got, want)
	}
}
