//go:build !noasm

package asm

import (
	"bytes"
	"fmt"
	"slices"
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
