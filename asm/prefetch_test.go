package asm

import (
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// TestPrefetchW: PrefetchW (and Prefetch and Demote) is a hint — the bytes do not change — and it
// does nothing wrong for any length (≤ 0 included), any alignment, or a
// stretch that ends at the last byte before a page no access is allowed to.
func TestPrefetchW(t *testing.T) {
	pg := unix.Getpagesize()
	m, err := unix.Mmap(-1, 0, 2*pg, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(m)
	if err := unix.Mprotect(m[pg:], unix.PROT_NONE); err != nil {
		t.Fatal(err)
	}
	b := m[:pg]
	for i := range b {
		b[i] = byte(i * 7)
	}
	for _, c := range []struct{ off, n int }{
		{0, 0}, {0, -1}, {0, 1}, {1, 63}, {63, 2}, {0, pg}, {pg - 100, 100}, {pg - 1, 1}, {5, pg - 5},
	} {
		PrefetchW(unsafe.Pointer(&b[c.off]), c.n)
		Prefetch(unsafe.Pointer(&b[c.off]), c.n)
		Demote(unsafe.Pointer(&b[c.off]), c.n)
	}
	if a := testing.AllocsPerRun(10, func() { Demote(unsafe.Pointer(&b[0]), pg) }); a != 0 {
		t.Errorf("Demote: %v allocations", a)
	}
	for i := range b {
		if b[i] != byte(i*7) {
			t.Fatalf("byte %d changed", i)
		}
	}
}
