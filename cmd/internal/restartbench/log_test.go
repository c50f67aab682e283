package restartbench

import (
	"encoding/binary"
	"errors"
	"slices"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// testLog is a log of capacity records in private memory, header written
// as the orchestrator writes it, and a child's writer over it.
func testLog(magic uint64, capacity int) ([]uint64, *childLog) {
	w := make([]uint64, logLength(capacity)/8)
	w[magicWord], w[capacityWord] = magic, uint64(capacity)
	return w, &childLog{w: w, capacity: uint64(capacity)}
}

// TestCallLog/round_trip: what a client logs before and after its calls
// decodes to the same calls, in order per connection, and the call in
// flight keeps its start.
func TestCallLog(t *testing.T) {
	t.Run("round_trip", func(t *testing.T) {
		w, l := testLog(callMagic, 8)
		r, _ := l.begin(0, 1, 100)
		l.end(r, 0, 1, outcomeAnswered)
		r, _ = l.begin(1, 1, 200)
		l.end(r, 1, 1, outcomeFailedTimeout)
		r, _ = l.begin(0, 2, 300)
		l.end(r, 0, 2, outcomeWrong)
		l.begin(0, 3, 400) // in flight
		l.reserve()        // reserved, never begun
		s, err := decodeCalls(w, 2)
		if err != nil {
			t.Fatal(err)
		}
		want := [][]outcome{{outcomeAnswered, outcomeWrong, outcomeInFlight}, {outcomeFailedTimeout}}
		for c := range want {
			if !slices.Equal(s.calls[c], want[c]) {
				t.Errorf("connection %d: %v, want %v", c, s.calls[c], want[c])
			}
		}
		if s.started[0] != 400 {
			t.Errorf("start of the call in flight %d, want 400", s.started[0])
		}
	})
	t.Run("full_log_refuses_and_counts", func(t *testing.T) {
		w, l := testLog(callMagic, 1)
		if _, ok := l.begin(0, 1, 1); !ok {
			t.Fatal("first record refused")
		}
		if _, ok := l.begin(0, 2, 1); ok {
			t.Fatal("record beyond capacity taken")
		}
		if _, err := decodeCalls(w, 1); !errors.Is(err, errLogFull) {
			t.Fatalf("decode of a full log: %v", err)
		}
	})
	t.Run("sealed_log_keeps_the_call_in_flight", func(t *testing.T) {
		w, l := testLog(callMagic, 1)
		r, _ := l.begin(0, 1, 1)
		l.seal()
		l.end(r, 0, 1, outcomeFailedOther)
		if s, err := decodeCalls(w, 1); err != nil || s.calls[0][0] != outcomeInFlight {
			t.Fatalf("%v %v", s, err)
		}
	})
}

// TestDecodeHostile: a log is written by a child; anything in it that no
// correct child writes is an error naming it, never a panic or an
// allocation its size asks for.
func TestDecodeHostile(t *testing.T) {
	rec := func(w []uint64, i int, word0, word1 uint64) {
		w[headerWords+i*recordWords], w[headerWords+i*recordWords+1] = word0, word1
	}
	cases := []struct {
		name  string
		edit  func(w []uint64)
		conns int
		want  error
	}{
		{"short", nil, 1, errBadLog},
		{"bad_magic", func(w []uint64) { w[magicWord] = execMagic }, 1, errBadLog},
		{"position_beyond_capacity", func(w []uint64) { w[positionWord] = 1 << 62 }, 1, errBadLog},
		{"full", func(w []uint64) { w[fullWord] = 3 }, 1, errLogFull},
		{"connection_out_of_range", func(w []uint64) { w[positionWord] = 1; rec(w, 0, callState(1, 5, outcomeAnswered), 0) }, 2, errBadLog},
		{"outcome_zero", func(w []uint64) { w[positionWord] = 1; rec(w, 0, 1<<32, 0) }, 1, errBadLog},
		{"outcome_unknown", func(w []uint64) { w[positionWord] = 1; rec(w, 0, callState(1, 0, outcomeLost), 0) }, 1, errBadLog},
		{"seq_not_from_1", func(w []uint64) { w[positionWord] = 1; rec(w, 0, callState(2, 0, outcomeAnswered), 0) }, 1, errBadLog},
		{"seq_repeated", func(w []uint64) {
			w[positionWord] = 2
			rec(w, 0, callState(1, 0, outcomeAnswered), 0)
			rec(w, 1, callState(1, 0, outcomeAnswered), 0)
		}, 1, errBadLog},
		{"call_after_one_in_flight", func(w []uint64) {
			w[positionWord] = 2
			rec(w, 0, callState(1, 0, outcomeInFlight), 0)
			rec(w, 1, callState(2, 0, outcomeAnswered), 0)
		}, 1, errBadLog},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w, _ := testLog(callMagic, 4)
			if tc.edit == nil {
				w = w[:headerWords-1]
			} else {
				tc.edit(w)
			}
			if _, err := decodeCalls(w, tc.conns); !errors.Is(err, tc.want) {
				t.Fatalf("error %v, want %v", err, tc.want)
			}
		})
	}
	t.Run("executions", func(t *testing.T) {
		w, l := testLog(execMagic, 4)
		l.executed(7, 3, 9)
		l.reserve() // reserved, never written: skipped
		l.executed(1<<32-1, 1<<32-1, 1<<63)
		got, err := decodeExecs(w, nil)
		if err != nil || len(got) != 2 || got[0] != (execKey{7, 3, 9}) || got[1] != (execKey{1<<32 - 1, 1<<32 - 1, 1 << 63}) {
			t.Fatalf("%v %v", got, err)
		}
		w[magicWord] = callMagic
		if _, err := decodeExecs(w, nil); !errors.Is(err, errBadLog) {
			t.Fatalf("a call log read as executions: %v", err)
		}
	})
}

// FuzzDecodeLog: no bytes make the decoders or the tally panic.
func FuzzDecodeLog(f *testing.F) {
	w, l := testLog(callMagic, 3)
	r, _ := l.begin(0, 1, 5)
	l.end(r, 0, 1, outcomeAnswered)
	l.begin(1, 1, 6)
	f.Add(wordBytes(w), uint8(2))
	w, l = testLog(execMagic, 2)
	l.executed(0, 1, 1)
	f.Add(wordBytes(w), uint8(2))
	f.Fuzz(func(t *testing.T, b []byte, conns uint8) {
		w := make([]uint64, len(b)/8)
		for i := range w {
			w[i] = binary.NativeEndian.Uint64(b[8*i:])
		}
		var lg ledger
		if s, err := decodeCalls(w, int(conns)); err == nil {
			s.settle(10, conns%2 == 0, 5)
			lg.sheets = append(lg.sheets, s)
		}
		if len(w) > 0 {
			w[magicWord] = execMagic // read the same words as executions
		}
		lg.execs, _ = decodeExecs(w, nil)
		lg.tally(&Result{})
	})
}

func wordBytes(w []uint64) []byte {
	b := make([]byte, 8*len(w))
	for i, x := range w {
		binary.NativeEndian.PutUint64(b[8*i:], x)
	}
	return b
}

// TestLogFile: the orchestrator's memfd is mapped by the child through the
// inherited descriptor, the child's stores show in the orchestrator's
// mapping, and the child can change the records but not the size (a
// shrunk file would SIGBUS the reader).
func TestLogFile(t *testing.T) {
	lf, err := newLogFile(callMagic, 16)
	if err != nil {
		t.Fatal(err)
	}
	defer lf.close()
	fd, err := unix.Dup(int(lf.f.Fd()))
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Ftruncate(fd, 0); err == nil {
		t.Fatal("the log's size is not sealed")
	}
	if _, err := openChildLog(fd, execMagic); !errors.Is(err, errBadLog) { // closes fd
		t.Fatalf("a call log opened as an execution log: %v", err)
	}
	fd, _ = unix.Dup(int(lf.f.Fd()))
	l, err := openChildLog(fd, callMagic)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(unsafeBytes(l.w))
	if l.capacity != 16 {
		t.Fatalf("capacity %d", l.capacity)
	}
	lf.handedOver()
	l.begin(0, 1, 42)
	s, err := decodeCalls(lf.w, 1)
	if err != nil || len(s.calls[0]) != 1 || s.started[0] != 42 {
		t.Fatalf("%+v %v", s, err)
	}
}

// unsafeBytes is the mapping w views.
func unsafeBytes(w []uint64) []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(w))), 8*len(w))
}
