//go:build !noasm

package asm

import (
	"bytes"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
)

// TestCopyERMS: copyAVX512's forward copy is the builtin copy's whether it
// is one REP MOVSB (from copyERMS on: here 513, so that every forward
// size above 512 takes it, and 2048) or its vector loop (copyERMS out of
// reach) — every alignment of both slices at the sizes around each
// boundary, and overlapping slices in both directions.
func TestCopyERMS(t *testing.T) {
	if !slices.Contains(copyKinds(), copyKindAVX512) {
		t.Skip("no AVX-512 F+VL")
	}
	for _, from := range []uint{513, 2048, ^uint(0)} {
		t.Run(fmt.Sprintf("copyERMS=%d", from), func(t *testing.T) {
			defer func(old uint) { copyERMS = old }(copyERMS)
			copyERMS = from
			c := newCopyChecker()
			for _, n := range []int{513, 514, 577, 1000, 2047, 2048, 2049, 4095, 4096} {
				for doff := range 64 {
					for soff := range 64 {
						if err := c.check(copyAVX512, n, doff, soff); err != nil {
							t.Fatal(err)
						}
					}
				}
			}
			buf := alignedBuf(maxCopyTest + 1024)
			want := make([]byte, len(buf))
			for _, n := range []int{513, 2048, 4096} {
				for _, shift := range []int{-300, -64, -63, -8, -1, 1, 8, 63, 64, 300} {
					for i := range buf {
						buf[i] = byte(i * 13)
					}
					copyGeneric(want, buf)
					copyGeneric(want[400+shift:400+shift+n], want[400:400+n])
					copyAVX512(buf[400+shift:400+shift+n], buf[400:400+n])
					if !bytes.Equal(buf, want) {
						t.Fatalf("n=%d shift=%d: result differs from the builtin copy", n, shift)
					}
				}
			}
		})
	}
}

// TestCopyERMSVendor: REP MOVSB from 1000 bytes on an AMD CPU with ERMS,
// from 2048 on another with ERMS, never without; isAMD agrees with
// /proc/cpuinfo's vendor_id.
func TestCopyERMSVendor(t *testing.T) {
	for _, c := range []struct {
		erms, amd bool
		want      uint
	}{{true, true, 1000}, {true, false, 2048}, {false, true, ^uint(0)}, {false, false, ^uint(0)}} {
		if got := ermsFrom(c.erms, c.amd); got != c.want {
			t.Errorf("ermsFrom(%v, %v) = %d, want %d", c.erms, c.amd, got, c.want)
		}
	}
	info, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		t.Skip("no /proc/cpuinfo to compare with")
	}
	if amd := strings.Contains(string(info), "AuthenticAMD"); amd != isAMD() {
		t.Errorf("isAMD() = %v, /proc/cpuinfo says AuthenticAMD: %v", isAMD(), amd)
	}
}
