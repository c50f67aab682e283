package spin

import (
	"runtime"
	"testing"
	"unsafe"

	"github.com/spinwire/spinwire/affinity"
	"github.com/spinwire/spinwire/layout"
)

// msg64 is a 64-byte fixed-layout message.
type msg64 struct {
	Seq   uint64
	Stamp int64
	Body  [6]uint64
}

// msg8 is the smallest message.
type msg8 struct{ Seq uint64 }

// msg56 fills one cache line together with an InSlot sequence word.
type msg56 struct {
	Seq  uint64
	Body [6]uint64
}

// seqd are the test messages: each starts with a uint64 Seq.
type seqd interface{ msg8 | msg56 | msg64 }

// seqOf returns a test message's Seq.
func seqOf[T seqd](m *T) *uint64 { return (*uint64)(unsafe.Pointer(m)) }

// region returns n bytes of shared memory (a memfd segment body).
func region(tb testing.TB, n int) []byte {
	tb.Helper()
	seg, err := layout.Create(n, layout.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { seg.Close() })
	return seg.Body()[:n]
}

func newRing[T any](tb testing.TB, capacity int, p Protocol) *Ring[T] {
	tb.Helper()
	n, _, err := RingLength[T](capacity, p)
	if err != nil {
		tb.Fatal(err)
	}
	r, err := NewRing[T](region(tb, n), RingOptions{Capacity: capacity, Protocol: p})
	if err != nil {
		tb.Fatal(err)
	}
	return r
}

var protocols = []Protocol{InSlot, Cursors}

// needCPUs skips tb unless two CPUs can be pinned, and returns them.
func needCPUs(tb testing.TB) (int, int) {
	tb.Helper()
	allowed, err := affinity.Allowed()
	if err != nil || len(allowed) < 2 || runtime.NumCPU() < 2 {
		tb.Skipf("needs two CPUs to pin spinners to (allowed %v, err %v)", allowed, err)
	}
	return allowed[len(allowed)-2], allowed[len(allowed)-1]
}
