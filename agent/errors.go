package agent

import "errors"

// Sentinel errors; Run wraps them with the agent's name and the values that
// explain them.
var (
	ErrStopped   = errors.New("agent: stopped")                // Run after its context ended
	ErrPanic     = errors.New("agent: duty panicked")          // a panic in the duty function or the idler
	ErrDedicated = errors.New("agent: dedicated mode refused") // a precondition of the Dedicated mode fails
	ErrRunning   = errors.New("agent: already running")        // Run called while the agent runs
)
