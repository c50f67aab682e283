package spin

import (
	"testing"
	"unsafe"
)

// TestRingCopy: Ring.Copy and TryPublish copy every byte of a message
// below and above WideCopy — by words (byWords) at 16, 24, 56 and 64
// bytes, typed at 8 bytes and for a 4-byte-aligned 16-byte T — and allocate nothing.
func TestRingCopy(t *testing.T) {
	testCopy[[1]uint64](t)
	testCopy[[4]uint32](t)
	testCopy[[2]uint64](t)
	testCopy[[3]uint64](t)
	testCopy[w7](t)
	testCopy[[8]uint64](t)
	testCopy[w511](t)
	if byWords[[1]uint64]() || byWords[[4]uint32]() || byWords[[9]uint64]() || !byWords[[3]uint64]() || !byWords[[8]uint64]() {
		t.Error("byWords: wrong sizes")
	}
}

// TestCopyWords: every size copyWords takes, exactly its bytes, at a
// destination with guard words around it.
func TestCopyWords(t *testing.T) {
	var src, dst [10]uint64
	for n := uintptr(16); n <= 64; n += 8 {
		for i := range src {
			src[i], dst[i] = uint64(i)*0x9e3779b97f4a7c15+1, ^uint64(0)
		}
		copyWords(unsafe.Pointer(&dst[1]), unsafe.Pointer(&src[1]), n)
		for i, w := range dst {
			in := i >= 1 && uintptr(i) <= n/8
			if in && w != src[i] || !in && w != ^uint64(0) {
				t.Fatalf("n=%d: word %d is %#x", n, i, w)
			}
		}
	}
}

// testCopy fills a T with distinct words, copies it with Ring.Copy and
// through a ring, and compares every word.
func testCopy[T any](t *testing.T) {
	var src, dst, got T
	words := func(m *T) []uint64 { return unsafe.Slice((*uint64)(unsafe.Pointer(m)), unsafe.Sizeof(*m)/8) }
	for i := range words(&src) {
		words(&src)[i] = uint64(i)*0x9e3779b97f4a7c15 + 1
	}
	r := newRing[T](t, 4, InSlot)
	r.Copy(&dst, &src)
	if !r.TryPublish(&src) || !r.TryConsume(func(m *T) { r.Copy(&got, m) }) {
		t.Fatal("publish or consume failed")
	}
	for i, w := range words(&src) {
		if words(&dst)[i] != w || words(&got)[i] != w {
			t.Fatalf("%d-byte message: word %d: copy %#x, through the ring %#x, want %#x", unsafe.Sizeof(src), i, words(&dst)[i], words(&got)[i], w)
		}
	}
	if a := testing.AllocsPerRun(100, func() { r.Copy(&dst, &src) }); a != 0 {
		t.Fatalf("%v allocations", a)
	}
}
