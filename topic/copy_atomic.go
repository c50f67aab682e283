//go:build !amd64 || race

package topic

import (
	"sync/atomic"
	"unsafe"
)

// copyIn writes the n words at src into the slot at dst, each with an
// atomic store: ordered after the sequence's 0 on weakly ordered
// processors, and visible to the race detector as the synchronised
// accesses they are.
func copyIn(dst unsafe.Pointer, src []uint64) {
	d := unsafe.Slice((*uint64)(dst), len(src))
	for i, w := range src {
		atomic.StoreUint64(&d[i], w)
	}
}
