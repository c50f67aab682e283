//go:build amd64 && !race

package topic

import "unsafe"

// copyIn writes the n words at src into the slot at dst. On amd64 the
// stores are plain MOVs, ordered after the sequence's 0 and before its
// final value by the hardware (TSO) and by the assembly calls around them.
func copyIn(dst unsafe.Pointer, src []uint64) {
	copy(unsafe.Slice((*uint64)(dst), len(src)), src)
}

// writeMsg copies *m into the slot's message at dst: one typed copy (wide
// moves, no scratch) for a sized T; for Raw, which has no size, the
// scratch words that hold the bytes. BenchmarkFanout.
func writeMsg[T any](dst unsafe.Pointer, m *T, scratch []uint64) {
	if unsafe.Sizeof(*m) == 0 {
		copyIn(dst, scratch)
		return
	}
	*(*T)(dst) = *m
}

// readMsg copies the slot's message at src into *dst, as writeMsg: plain
// loads, which TSO keeps between the sequence's two loads (and the
// compiler too: each of those loads orders the memory around it). For
// Raw, into the scratch words.
func readMsg[T any](dst *T, scratch []uint64, src unsafe.Pointer) {
	if unsafe.Sizeof(*dst) == 0 {
		copyOut(scratch, src)
		return
	}
	*dst = *(*T)(src)
}
