//go:build amd64 && !race

package topic

import "unsafe"

// copyIn writes the n words at src into the slot at dst. On amd64 the
// stores are plain MOVs, ordered after the sequence's 0 and before its
// final value by the hardware (TSO) and by the assembly calls around them.
func copyIn(dst unsafe.Pointer, src []uint64) {
	copy(unsafe.Slice((*uint64)(dst), len(src)), src)
}
