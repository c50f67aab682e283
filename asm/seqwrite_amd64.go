//go:build !noasm

package asm

import "unsafe"

// seqWrite is SeqWrite in plain MOVs. Body: seqwrite_amd64.s; reference:
// seqWriteGeneric.
//
//go:noescape
func seqWrite(seq *uint64, src unsafe.Pointer, words int, v uint64, tail *uint64)

// seqWriteMOV: SeqWrite uses seqWrite.
const seqWriteMOV = true
