package msg

import "time"

// Budget rate-limits log lines that peers can cause: Burst lines at once,
// then one a second, counting the lines it holds back. Not safe for
// concurrent use: its owner serializes (one goroutine, or a lock).
type Budget struct {
	Burst  int // lines let through at once
	tokens int
	last   int64 // unix ns of the last refill
	held   int   // lines held back since the last one let through
}

// Take reports whether a line may go out now, and how many were held back
// before it.
func (b *Budget) Take() (held int, ok bool) {
	now := time.Now().UnixNano()
	if b.last == 0 {
		b.tokens, b.last = b.Burst, now
	}
	if k := (now - b.last) / 1e9; k > 0 {
		b.tokens = int(min(int64(b.Burst), int64(b.tokens)+k))
		b.last += k * 1e9
	}
	if b.tokens == 0 {
		b.held++
		return 0, false
	}
	b.tokens--
	held, b.held = b.held, 0
	return held, true
}

// HeldNote is appended to the format of a line let through after held
// lines were held back (its operand: held).
const HeldNote = " (%d lines before this one held back: at most one a second after a burst)"
