//go:build noasm || (!amd64 && !arm64)

package asm

import "unsafe"

// copyVec is never reached here (the mask is empty); it copies with the
// builtin copy to be safe.
func copyVec(_ copyKind, dst, src *byte, n int) {
	copy(unsafe.Slice(dst, n), unsafe.Slice(src, n))
}

// copyKinds is empty: no vector routine without assembly.
func copyKinds() []copyKind { return nil }

// detectCopy sends every size to the builtin copy.
func detectCopy() copyImpl { return copyImpl{kind: copyKindBuiltin} }
