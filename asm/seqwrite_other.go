//go:build noasm || !amd64

package asm

import "unsafe"

// seqWrite is seqWriteGeneric where this package has no assembly for it
// (on arm64 the release stores need barriers that sync/atomic already has).
func seqWrite(seq *uint64, src unsafe.Pointer, words int, v uint64, tail *uint64) {
	seqWriteGeneric(seq, src, words, v, tail)
}

// seqWriteMOV is false: no assembly here.
const seqWriteMOV = false
