//go:build noasm || (!amd64 && !arm64)

package asm

// copyVector is never reached here (the window is empty); it is the builtin
// copy.
func copyVector(dst, src []byte) int { return copy(dst, src) }

// copyVec is copyVector.
func copyVec(_ copyKind, dst, src []byte) int { return copy(dst, src) }

// copyKinds is empty: no vector routine without assembly.
func copyKinds() []copyKind { return nil }

// detectCopy sends every size to the builtin copy.
func detectCopy() copyImpl { return copyImpl{kind: copyKindBuiltin, lo: 1, hi: 0} }
