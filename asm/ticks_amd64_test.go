//go:build !noasm

package asm

import (
	"strings"
	"testing"
)

// TestPickClockAMD64 walks every branch of the amd64 clock choice and runs
// Ticks/TicksP on each result.
func TestPickClockAMD64(t *testing.T) {
	for _, tc := range []struct {
		invariant, rdtscp bool
		prefix            string
		hw, hwCPU         bool
	}{
		{false, true, "monotonic:", false, false},
		{true, false, "tsc:", true, false},
		{true, true, "tsc:", true, true},
	} {
		c := pickClockAMD64(tc.invariant, tc.rdtscp)
		if !strings.HasPrefix(c.source, tc.prefix) || c.hw != tc.hw || c.hwCPU != tc.hwCPU {
			t.Errorf("pickClockAMD64(%v, %v) = %+v, want source %s…, hw %v, hwCPU %v", tc.invariant, tc.rdtscp, c, tc.prefix, tc.hw, tc.hwCPU)
		}
		if tc.invariant && !InvariantTSC() {
			continue // the TSC is not usable here
		}
		restore := setClock(c)
		a := Ticks()
		b, _ := TicksP()
		restore()
		if b < a {
			t.Errorf("%s: TicksP %d before Ticks %d", c.source, b, a)
		}
	}
}

// TestTicksHWMatchesGeneric: RDTSC and RDTSCP read the same counter.
func TestTicksHWMatchesGeneric(t *testing.T) {
	if !InvariantTSC() {
		t.Skip("no invariant TSC: Ticks does not read it")
	}
	a := ticksHW()
	b, _ := ticksPHW()
	c := ticksHW()
	if !(a <= b && b <= c) {
		t.Errorf("RDTSC %d, RDTSCP %d, RDTSC %d: not in order", a, b, c)
	}
}
