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
		mode              clockMode
	}{
		{false, true, "monotonic:", clockMonotonic},
		{true, false, "tsc: LFENCE;RDTSC", clockCounter},
		{true, true, "tsc: RDTSCP", clockRDTSCP},
	} {
		c := pickClockAMD64(tc.invariant, tc.rdtscp)
		if !strings.HasPrefix(c.source, tc.prefix) || c.mode != tc.mode {
			t.Errorf("pickClockAMD64(%v, %v): mode %d, source %q; want mode %d, source %s…", tc.invariant, tc.rdtscp, c.mode, c.source, tc.mode, tc.prefix)
		}
		if tc.invariant && !InvariantTSC() {
			continue // the TSC is not usable here
		}
		restore := setClock(c)
		a := Ticks()
		b, _ := TicksP()
		d := c.ticks()
		restore()
		if !(a <= b && b <= d) {
			t.Errorf("%s: Ticks %d, TicksP %d, clock.ticks %d: not in order", c.source, a, b, d)
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

func TestCopyWindowFor(t *testing.T) {
	for _, tc := range []struct {
		kind   copyKind
		lo, hi int
	}{
		{copyKindAVX512, 129, 4096},
		{copyKindAVX2, 257, 4096},
		{copyKindBuiltin, 1, 0},
	} {
		if c := copyWindowFor(tc.kind); c.lo != tc.lo || c.hi != tc.hi {
			t.Errorf("copyWindowFor(%v) = %d…%d, want %d…%d", tc.kind, c.lo, c.hi, tc.lo, tc.hi)
		}
	}
	if c := detectCopy(); len(copyKinds()) > 0 && c.kind != copyKinds()[0] {
		t.Errorf("detectCopy picked %v, want the best routine %v", c.kind, copyKinds()[0])
	}
}
