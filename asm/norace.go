//go:build !race

package asm

// raceEnabled reports a -race build; see race.go.
const raceEnabled = false
