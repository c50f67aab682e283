package spin

import (
	"testing"
	"unsafe"
)

// TestRingCopy: Ring.Copy and TryPublish copy every byte of a message
// below and above WideCopy — under Cursors with asm.CopyLine at 32, 40,
// 56 and 64 bytes, typed at 8, 16 and 24; under InSlot as a boxed T up
// to 64 bytes — and allocate nothing.
func TestRingCopy(t *testing.T) {
	testCopy[[1]uint64](t)
	testCopy[[4]uint32](t)
	testCopy[[2]uint64](t)
	testCopy[[3]uint64](t)
	testCopy[[4]uint64](t)
	testCopy[[5]uint64](t)
	testCopy[w7](t)
	testCopy[[8]uint64](t)
	testCopy[w511](t)
}

// testCopy fills a T with distinct words, copies it with Ring.Copy and
// through a ring, and compares every word.
func testCopy[T any](t *testing.T) {
	var src, dst, got T
	words := func(m *T) []uint64 { return unsafe.Slice((*uint64)(unsafe.Pointer(m)), unsafe.Sizeof(*m)/8) }
	for i := range words(&src) {
		words(&src)[i] = uint64(i)*0x9e3779b97f4a7c15 + 1
	}
	var r *Ring[T]
	for _, p := range []Protocol{InSlot, Cursors} {
		r = newRing[T](t, 4, p)
		r.Copy(&dst, &src)
		got = dst
		clear(words(&got))
		if !r.TryPublish(&src) || !r.TryConsume(func(m *T) { r.Copy(&got, m) }) {
			t.Fatal("publish or consume failed")
		}
		for i, w := range words(&src) {
			if words(&dst)[i] != w || words(&got)[i] != w {
				t.Fatalf("%v, %d-byte message: word %d: copy %#x, through the ring %#x, want %#x", p, unsafe.Sizeof(src), i, words(&dst)[i], words(&got)[i], w)
			}
		}
	}
	if a := testing.AllocsPerRun(100, func() { r.Copy(&dst, &src) }); a != 0 {
		t.Fatalf("%v allocations", a)
	}
}
