package restartbench

import (
	"testing"
	"time"
)

// TestSettle: a call in flight when its client ended is interrupted when
// the client was killed within lostAfter of the call's start, and lost
// when the kill came later or the client was stopped.
func TestSettle(t *testing.T) {
	const lostAfter = 3 * time.Second
	newSheet := func() *sheet {
		return &sheet{calls: [][]outcome{{outcomeAnswered, outcomeInFlight}, {outcomeInFlight}, {outcomeFailedTimeout}, nil},
			started: []int64{10, int64(lostAfter) + 11, 0, 0}}
	}
	end := int64(lostAfter) + 10
	s := newSheet()
	s.settle(end, true, lostAfter)
	if s.calls[0][1] != outcomeInterrupted || s.calls[1][0] != outcomeInterrupted || s.calls[0][0] != outcomeAnswered || s.calls[2][0] != outcomeFailedTimeout {
		t.Errorf("killed at the limit: %v", s.calls)
	}
	s = newSheet()
	s.settle(end+1, true, lostAfter)
	if s.calls[0][1] != outcomeLost || s.calls[1][0] != outcomeInterrupted {
		t.Errorf("killed past the limit of connection 0's call: %v", s.calls)
	}
	s = newSheet()
	s.settle(end, false, lostAfter)
	if s.calls[0][1] != outcomeLost || s.calls[1][0] != outcomeLost || s.killed {
		t.Errorf("stopped: %v", s.calls)
	}
}

// TestTally: every call lands in exactly one category, decided by what its
// client saw and how often the servers executed it; executions that name
// no call are counted apart.
func TestTally(t *testing.T) {
	killed := &sheet{killed: true, calls: [][]outcome{{
		outcomeAnswered,       // 1: executed once: answered
		outcomeAnswered,       // 2: executed twice: duplicated
		outcomeAnswered,       // 3: never executed: wrong
		outcomeWrong,          // 4: executed once: wrong
		outcomeFailedPeerGone, // 5: executed once: failed, and executed
		outcomeFailedTimeout,  // 6: failed
		outcomeInterrupted,    // 7: executed once: interrupted
	}}}
	stopped := &sheet{calls: [][]outcome{{outcomeFailedOther}, {outcomeLost}}}
	l := ledger{sheets: []*sheet{killed, nil, stopped}, execs: []execKey{
		{0, 0, 1}, {0, 0, 2}, {0, 0, 2}, {0, 0, 4}, {0, 0, 5}, {0, 0, 7},
		{2, 1, 1},            // stopped's lost call, executed: still lost
		{0, 0, 8}, {0, 1, 1}, // beyond the calls of the connection; no such connection
		{1, 0, 1}, {9, 0, 1}, // a client incarnation not read; none at all
		{2, 0, 0}, // seq 0
	}}
	var res Result
	l.tally(&res)
	want := Result{Calls: 9, KilledClientCalls: 7, Answered: 1, Duplicated: 1, Wrong: 2,
		Failed: 3, FailedPeerGone: 1, FailedTimeout: 1, FailedOther: 1, FailedExecuted: 1,
		Interrupted: 1, Lost: 1, Executions: 12, UnmatchedExecutions: 5}
	if res != want {
		t.Fatalf("\n got %+v\nwant %+v", res, want)
	}
	if sum := res.Answered + res.Failed + res.Interrupted + res.Lost + res.Duplicated + res.Wrong; sum != res.Calls {
		t.Fatalf("categories add up to %d of %d calls", sum, res.Calls)
	}
}
