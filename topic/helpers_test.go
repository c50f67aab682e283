package topic

import "unsafe"

// unsafeBytes views the words of m as n bytes (aligned like a mapping).
func unsafeBytes(m []uint64, n int) []byte {
	if n == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(m))), n)
}
