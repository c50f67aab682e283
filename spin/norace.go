//go:build !race

package spin

// raceEnabled reports a -race build; see race.go.
const raceEnabled = false
