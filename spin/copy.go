package spin

import (
	"unsafe"

	"github.com/spinwire/spinwire/asm"
)

// WideCopy is the message size from which TryPublish and Ring.Copy copy
// with asm.Copy (REP MOVSB where the CPU has ERMS and AVX-512, 64-byte
// moves where it has AVX-512 alone) instead of the typed copy (a call to
// the runtime's memmove, 32-byte moves); a caller's own copies of messages
// this size and larger should use Ring.Copy. At 4 KiB, pingpong's in-slot
// stream went from 0.82 to 1.12 × floor_stream's rate with both sides
// copying with 64-byte moves, and moved little with only one; in the
// host's slow state, string moves took it from 0.48 to 1.08 × (AMD EPYC;
// docs/benchmarks.md, "One-way stream").
const WideCopy = 1024

// copyMsg copies *src into *dst: the typed copy below WideCopy bytes,
// asm.Copy from there on. T has no pointers (layout.Of checked it when the
// ring was made), so a byte copy is a correct copy of it.
// It inlines (the wide path is a call of its own), but inside it the
// typed copy of an array T is a memmove call: see boxed.
func copyMsg[T any](dst, src *T) {
	if unsafe.Sizeof(*src) >= WideCopy {
		copyWide(unsafe.Pointer(dst), unsafe.Pointer(src), unsafe.Sizeof(*src))
		return
	}
	*dst = *src
}

// copyWide copies n bytes from src to dst with asm.Copy.
func copyWide(dst, src unsafe.Pointer, n uintptr) {
	asm.Copy(unsafe.Slice((*byte)(dst), n), unsafe.Slice((*byte)(src), n))
}

// Copy copies message *src into *dst as TryPublish copies a large
// message in: from WideCopy (1 KiB) on with asm.Copy (string moves or
// 64-byte ones, where the typed copy calls the runtime's memmove), below
// that with the typed copy. For the caller's own copies of messages
// of WideCopy bytes and more — filling a slot that Claim handed out from a
// message built elsewhere, or copying one that Poll or TryConsume handed
// to fn out of its slot. Below WideCopy write `*dst = *src` instead: in
// the caller's own code it inlines as a few moves, where through Copy Go
// may compile it as a memmove call (pingpong's 64-byte stream lost a
// quarter of its rate that way). An array type copied from one pointer
// to another is a memmove call wherever it is written (see boxed): copy
// into a variable, or make the message a struct.
func (r *Ring[T]) Copy(dst, src *T) { copyMsg(dst, src) }

// boxed holds a T in a struct, so that a copy of it is a struct copy:
// Go copies an array between two pointers with a memmove call, in case
// the two partly overlap, and a struct with moves in line (16 bytes at a
// time on amd64). TryPublish copies an in-slot T of up to boxedMax bytes
// this way; larger ones go to copyMsg (a 1016-byte T copied in line took
// a 1 KiB round trip from 0.88 to 1.13–1.21 µs).
type boxed[T any] struct{ v T }

// boxedMax is the largest T TryPublish copies as a boxed: one cache line.
const boxedMax = 64
