package restartbench

import (
	"fmt"
	"sync/atomic"
	"time"
)

// sheet is what a client incarnation's log says: the outcome of every call
// each of its connections began, in order.
type sheet struct {
	calls   [][]outcome // calls[conn][seq-1]
	started []int64     // per connection: Start of its last call, when that one is in flight
	killed  bool        // its client was killed (not stopped)
}

// decodeCalls reads the call log w of a client given conns connections.
// The log comes from the child and is checked, never trusted: an error
// (errBadLog, errLogFull) names the offending record and value. Each
// connection's records must run seq 1, 2, 3, … with only its last one in
// flight: a record missing or repeated is an error, so that every call the
// client began is in the sheet once. A record never begun (state zero) is
// skipped: its client died before the call. Cost: one pass, a byte per
// call.
func decodeCalls(w []uint64, conns int) (*sheet, error) {
	n, err := checkLog(w, callMagic)
	if err != nil {
		return nil, err
	}
	s := &sheet{calls: make([][]outcome, conns), started: make([]int64, conns)}
	for i := range n {
		r := headerWords + i*recordWords
		// SYNC: acquire of the state; pairs with its release in begin,
		// after Start.
		st := atomic.LoadUint64(&w[r+stateOffset/8])
		if st == 0 {
			continue
		}
		seq, conn, o := splitState(st)
		if conn >= conns || o == 0 || o > lastLoggedOutcome {
			return nil, fmt.Errorf("%w: record %d: state %#x (connection %d of %d, outcome %d)", errBadLog, i, st, conn, conns, o)
		}
		c := s.calls[conn]
		if seq != uint64(len(c))+1 {
			return nil, fmt.Errorf("%w: record %d: connection %d call %d after %d calls", errBadLog, i, conn, seq, len(c))
		}
		if len(c) > 0 && c[len(c)-1] == outcomeInFlight {
			return nil, fmt.Errorf("%w: record %d: connection %d began call %d with call %d in flight", errBadLog, i, conn, seq, seq-1)
		}
		if o == outcomeInFlight {
			s.started[conn] = int64(atomic.LoadUint64(&w[r+startOffset/8]))
		}
		s.calls[conn] = append(c, o)
	}
	return s, nil
}

// settle decides each call still in flight when the client ended, at end
// (CLOCK_MONOTONIC ns): interrupted when the client was killed and the
// call began no more than lostAfter before the kill; lost otherwise — a
// stopped client had waited lostAfter for its calls before it gave up.
func (s *sheet) settle(end int64, killed bool, lostAfter time.Duration) {
	s.killed = killed
	for conn, c := range s.calls {
		if len(c) == 0 || c[len(c)-1] != outcomeInFlight {
			continue
		}
		if killed && end-s.started[conn] <= int64(lostAfter) {
			c[len(c)-1] = outcomeInterrupted
		} else {
			c[len(c)-1] = outcomeLost
		}
	}
}

// execKey names one execution: the request's client incarnation,
// connection and seq, as the server read them.
type execKey struct {
	proc, conn uint32
	seq        uint64
}

// decodeExecs appends the executions in server log w to dst. Like
// decodeCalls it trusts nothing in w; a record whose Seq is zero was not
// written (its server died first) and is skipped. What the keys name is
// checked against the calls in tally.
func decodeExecs(w []uint64, dst []execKey) ([]execKey, error) {
	n, err := checkLog(w, execMagic)
	if err != nil {
		return dst, err
	}
	for i := range n {
		r := headerWords + i*recordWords
		// SYNC: acquire of Seq; pairs with its release in executed, after
		// the key.
		seq := atomic.LoadUint64(&w[r+seqOffset/8])
		if seq == 0 {
			continue
		}
		key := atomic.LoadUint64(&w[r+keyOffset/8])
		dst = append(dst, execKey{proc: uint32(key >> 32), conn: uint32(key), seq: seq})
	}
	return dst, nil
}

// ledger is a run's account of every call: a sheet per client incarnation
// (Req.Proc) and every execution of every server incarnation.
type ledger struct {
	sheets []*sheet // nil for an incarnation not read (yet)
	execs  []execKey
}

// tally fills in res's call counts (Result documents each): it counts the
// executions of each call, then puts every call in exactly one category.
func (l *ledger) tally(res *Result) {
	execs := make([][][]uint8, len(l.sheets))
	for p, s := range l.sheets {
		if s != nil {
			execs[p] = make([][]uint8, len(s.calls))
			for c := range s.calls {
				execs[p][c] = make([]uint8, len(s.calls[c]))
			}
		}
	}
	res.Executions = uint64(len(l.execs))
	for _, k := range l.execs {
		if int(k.proc) >= len(execs) || int(k.conn) >= len(execs[k.proc]) ||
			k.seq == 0 || k.seq > uint64(len(execs[k.proc][k.conn])) {
			res.UnmatchedExecutions++
			continue
		}
		if n := &execs[k.proc][k.conn][k.seq-1]; *n < 255 {
			*n++
		}
	}
	for p, s := range l.sheets {
		if s == nil {
			continue
		}
		for c, calls := range s.calls {
			for i, o := range calls {
				res.count(o, execs[p][c][i], s.killed)
			}
		}
	}
}

// count puts a call whose client saw o and which the servers executed n
// times in its category.
func (res *Result) count(o outcome, n uint8, killed bool) {
	res.Calls++
	if killed {
		res.KilledClientCalls++
	}
	switch {
	case n > 1:
		res.Duplicated++
	case o == outcomeWrong || o == outcomeAnswered && n == 0:
		res.Wrong++
	case o == outcomeAnswered:
		res.Answered++
	case o == outcomeInterrupted:
		res.Interrupted++
	case o == outcomeLost || o == outcomeInFlight: // in flight: never settled
		res.Lost++
	default:
		res.Failed++
		res.FailedExecuted += uint64(n)
		switch o {
		case outcomeFailedPeerGone:
			res.FailedPeerGone++
		case outcomeFailedTimeout:
			res.FailedTimeout++
		default:
			res.FailedOther++
		}
	}
}
