//go:build race

package spin

// raceEnabled reports a -race build, where Commit also checks that every
// record ClaimN claimed was taken with At (Log.checkRuns).
const raceEnabled = true
