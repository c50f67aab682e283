//go:build amd64 || arm64

package asm

// unalignedWords: this CPU loads and stores words at any address at full
// speed, so CopyLine may move a payload's bytes as unaligned words.
const unalignedWords = true
