package asm

import (
	"fmt"
	"testing"
)

// benchCopySizes are the sizes BenchmarkCopy times: 8, 64, 128,
// 256, 1024 and 4096 bytes, plus one size inside each other power-of-two
// class so that every class Copy dispatches on has a figure.
var benchCopySizes = []int{8, 16, 32, 64, 96, 128, 192, 256, 384, 512, 768, 1024, 2048, 3072, 4096}

// BenchmarkCopy times the builtin copy (impl=builtin), Copy with every size
// sent to one vector routine (impl=avx512, impl=avx2, impl=neon: the call
// path Copy takes when it dispatches there), Copy as detected (impl=Copy)
// and CopyLine (impl=CopyLine), for each size, into a MAP_SHARED mapping
// (dst=shm, like a ring slot in a segment) and into the heap (dst=heap).
// Source and destination are 64-byte aligned and stay in L1: this is the
// cost of the instructions, not of the cache-line transfers a real
// consumer adds.
func BenchmarkCopy(b *testing.B) {
	src := alignedBuf(maxCopyTest)
	for i := range src {
		src[i] = byte(i)
	}
	dsts := []struct {
		name string
		buf  []byte
	}{
		{"shm", mmapShared(b, 1<<16)[:maxCopyTest]},
		{"heap", alignedBuf(maxCopyTest)},
	}
	impls := []string{"builtin"}
	for _, k := range copyKinds() {
		impls = append(impls, k.String())
	}
	impls = append(impls, "Copy", "CopyLine")
	for _, dst := range dsts {
		for _, impl := range impls {
			for _, n := range benchCopySizes {
				b.Run(fmt.Sprintf("dst=%s/impl=%s/size=%d", dst.name, impl, n), func(b *testing.B) {
					d, s := dst.buf[:n], src[:n]
					b.SetBytes(int64(n))
					b.ReportAllocs()
					switch impl {
					case "builtin":
						for b.Loop() {
							copy(d, s)
						}
					case "Copy":
						for b.Loop() {
							Copy(d, s)
						}
					case "CopyLine":
						for b.Loop() {
							CopyLine(d, s)
						}
					default: // Copy with every size sent to one vector routine
						defer setCopy(copyImpl{kind: copyKindByName(b, impl), lo: 0, hi: 1 << 62})()
						for b.Loop() {
							Copy(d, s)
						}
					}
				})
			}
		}
	}
}

func copyKindByName(tb testing.TB, name string) copyKind {
	for k, n := range copyKindNames {
		if n == name {
			return copyKind(k)
		}
	}
	tb.Fatalf("no copy implementation %q", name)
	return 0
}
