//go:build race

package asm

// raceEnabled reports a -race build: the race detector cannot see memory
// accesses made from assembly, so publishing stores use sync/atomic there.
const raceEnabled = true
