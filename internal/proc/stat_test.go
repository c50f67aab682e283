package proc

import (
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestParseStat(t *testing.T) {
	tail := " 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 987654 20 21"
	for _, c := range []struct {
		line  string
		state byte
		start uint64
		ok    bool
	}{
		{"42 (sh) S" + tail + "\n", 'S', 987654, true},
		{"42 (a) (b) c) Z" + tail, 'Z', 987654, true},
		{"42 (a) b (c) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 123456 20 21\n", 'S', 123456, true},
		{"42 (x y) R 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 5", 'R', 5, true},
		{"42 (x) R 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 18446744073709551615", 'R', 1<<64 - 1, true},
		{"42 (x) R 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 18446744073709551616", 0, 0, false},
		{"42 (sh) S 1 2", 0, 0, false},
		{"1 (x) S 2 3", 0, 0, false},
		{"42 (sh)", 0, 0, false},
		{"42 (sh)S" + tail, 0, 0, false},
		{"no parens", 0, 0, false},
		{"42 (sh) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 x 20", 0, 0, false},
		{"", 0, 0, false},
	} {
		state, start, ok := ParseStat([]byte(c.line))
		if state != c.state || start != c.start || ok != c.ok {
			t.Errorf("%q: %q %d %v, want %q %d %v", c.line, state, start, ok, c.state, c.start, c.ok)
		}
	}
}

// TestStat: this process's state and start time, the start time as
// another process reads it (cat: under a user-mode emulator this
// process's own read by path is the emulator's, and differs), without
// allocating; no such process is ENOENT.
func TestStat(t *testing.T) {
	var buf [StatLength]byte
	state, start, err := Stat(os.Getpid(), &buf)
	if err != nil || state == 'Z' || start == 0 { // the main thread's state: running or sleeping
		t.Fatalf("this process: %q %d %v", state, start, err)
	}
	if b, err := exec.Command("cat", "/proc/"+strconv.Itoa(os.Getpid())+"/stat").Output(); err == nil {
		if _, want, ok := ParseStat(b); !ok || start != want {
			t.Errorf("start %d; another process reads %d", start, want)
		}
	}
	if n := testing.AllocsPerRun(10, func() { Stat(os.Getpid(), &buf) }); n != 0 {
		t.Errorf("Stat: %v allocations", n)
	}
	if _, _, err := Stat(1<<22+1, &buf); err != unix.ENOENT { // beyond Linux's pids
		t.Errorf("no such process: %v", err)
	}
}

// FuzzParseStat checks ParseStat against a reference that splits the line
// with the strings package.
func FuzzParseStat(f *testing.F) {
	f.Add([]byte("42 (a) b) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 99 20\n"))
	f.Add([]byte("1 (x) R"))
	f.Fuzz(func(t *testing.T, b []byte) {
		state, start, ok := ParseStat(b)
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		wantOK := i >= 0 && i+3 <= len(s) && s[i+1] == ' '
		var wantState byte
		var wantStart uint64
		if wantOK {
			fields := strings.Split(s[i+2:], " ")
			wantState = s[i+2]
			if len(fields) < 20 {
				wantOK = false
			} else {
				var err error
				wantStart, err = strconv.ParseUint(fields[19], 10, 64)
				wantOK = err == nil
			}
		}
		if !wantOK {
			wantState, wantStart = 0, 0
		}
		if ok != wantOK || state != wantState || start != wantStart {
			t.Fatalf("%q: %q %d %v, want %q %d %v", b, state, start, ok, wantState, wantStart, wantOK)
		}
	})
}
