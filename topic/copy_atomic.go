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

// writeMsg copies *m into the slot's message at dst through the scratch
// words (for Raw, which has no size, they already hold the bytes), each
// word an atomic store.
func writeMsg[T any](dst unsafe.Pointer, m *T, scratch []uint64) {
	*(*T)(unsafe.Pointer(&scratch[0])) = *m
	copyIn(dst, scratch)
}

// readMsg copies the slot's message at src into *dst through the scratch
// words, each an atomic load (for Raw the bytes stay in scratch).
func readMsg[T any](dst *T, scratch []uint64, src unsafe.Pointer) {
	copyOut(scratch, src)
	*dst = *(*T)(unsafe.Pointer(&scratch[0]))
}
