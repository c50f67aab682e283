package spin

import (
	"unsafe"

	"github.com/spinwire/spinwire/asm"
)

// wideCopy is the message size from which copyMsg copies with asm.Copy
// (64-byte moves where the CPU has AVX-512) instead of the typed copy (a
// call to the runtime's memmove, 32-byte moves). At 4 KiB, pingpong's
// in-slot stream went from 0.82 to 1.12 × floor_stream's rate with both
// sides copying this way, and moved little with only one (AMD EPYC;
// docs/benchmarks.md, "One-way stream").
const wideCopy = 1024

// copyMsg copies *src into *dst: the typed copy below wideCopy bytes,
// asm.Copy from there on. T has no pointers (layout.Of checked it when the
// ring was made), so a byte copy is a correct copy of it.
func copyMsg[T any](dst, src *T) {
	if n := unsafe.Sizeof(*src); n >= wideCopy {
		asm.Copy(unsafe.Slice((*byte)(unsafe.Pointer(dst)), n), unsafe.Slice((*byte)(unsafe.Pointer(src)), n))
		return
	}
	*dst = *src
}

// Copy copies message *src into *dst as fast as TryPublish copies a
// message in: from 1 KiB on with the CPU's widest moves (asm.Copy), below
// that with the typed copy (`*dst = *src` is then the same). For the
// caller's own copies of the ring's messages — filling a slot that Claim
// handed out from a message built elsewhere, or copying one that Poll or
// TryConsume handed to fn out of its slot to keep or to check it.
func (r *Ring[T]) Copy(dst, src *T) { copyMsg(dst, src) }
