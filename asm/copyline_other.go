//go:build !amd64 && !arm64

package asm

// unalignedWords: not known to be cheap (or legal) on this CPU, so CopyLine
// is the builtin copy.
const unalignedWords = false
