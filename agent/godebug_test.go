package agent

import (
	"os"
	"strconv"
	"strings"
	"testing"
)

// refPreempt is the runtime's reading of asyncpreemptoff at start-up, in
// plain Go: the first GODEBUG entry, items at ',', key and value at the
// first '=', the value an int32 (runtime.atoi32: optional '-', decimal
// digits; "-" alone is 0), invalid values ignored, the last valid one kept.
func refPreempt(environ string) int32 {
	for e := range strings.SplitSeq(environ, "\x00") {
		list, ok := strings.CutPrefix(e, "GODEBUG=")
		if !ok {
			continue
		}
		var v int32
		for item := range strings.SplitSeq(list, ",") {
			key, val, ok := strings.Cut(item, "=")
			if !ok || key != "asyncpreemptoff" {
				continue
			}
			if val == "-" {
				v = 0
				continue
			}
			if strings.HasPrefix(val, "+") {
				continue // atoi takes no '+'
			}
			if n, err := strconv.ParseInt(val, 10, 32); err == nil {
				v = int32(n)
			}
		}
		return v
	}
	return 0
}

func TestPreemptScan(t *testing.T) {
	cases := []string{
		"",
		"PATH=/bin\x00GODEBUG=asyncpreemptoff=1\x00",
		"GODEBUG=gctrace=1,asyncpreemptoff=1\x00HOME=/\x00",
		"GODEBUG=asyncpreemptoff=1,asyncpreemptoff=0\x00",
		"GODEBUG=asyncpreemptoff=0,asyncpreemptoff=1\x00",
		"GODEBUG=asyncpreemptoff=1,asyncpreemptoff=x\x00", // invalid: keeps 1
		"GODEBUG=asyncpreemptoff=1,asyncpreemptoff=\x00",  // empty: keeps 1
		"GODEBUG=asyncpreemptoff=1,asyncpreemptoff=-\x00", // "-" is 0
		"GODEBUG=asyncpreemptoff=-7\x00",
		"GODEBUG=asyncpreemptoff=01\x00",
		"GODEBUG=asyncpreemptoff=+1\x00",
		"GODEBUG=asyncpreemptoff=1-\x00",
		"GODEBUG=asyncpreemptoff=--1\x00",
		"GODEBUG=asyncpreemptoff=2147483647\x00",
		"GODEBUG=asyncpreemptoff=2147483648\x00",
		"GODEBUG=asyncpreemptoff=-2147483648\x00",
		"GODEBUG=asyncpreemptoff=99999999999999999999999\x00",
		"GODEBUG=asyncpreemptoff=1=1\x00",
		"GODEBUG= asyncpreemptoff=1\x00", // no trimming
		"GODEBUG=asyncpreemptoffx=1,xasyncpreemptoff=1,asyncpreempt=1\x00",
		"GODEBUG=gctrace=1\x00GODEBUG=asyncpreemptoff=1\x00", // the first entry only
		"XGODEBUG=asyncpreemptoff=1\x00GODEBUGX=asyncpreemptoff=1\x00GODEBUG\x00",
		"GODEBUG=asyncpreemptoff=1", // no final NUL
		"A=GODEBUG=asyncpreemptoff=1\x00",
		"GODEBUG=,,asyncpreemptoff,=,asyncpreemptoff=3,\x00",
	}
	for _, env := range cases {
		want := refPreempt(env)
		for _, chunk := range []int{1, 2, 3, 7, 256} {
			var s preemptScan
			for i := 0; i < len(env); i += chunk {
				feed(&s, []byte(env[i:min(i+chunk, len(env))]))
			}
			if got := s.end(); got != want {
				t.Errorf("%q in chunks of %d: %d, want %d", env, chunk, got, want)
			}
		}
		var s preemptScan
		feed(&s, env)
		if got := s.end(); got != want {
			t.Errorf("%q as a string: %d, want %d", env, got, want)
		}
	}
}

func FuzzPreemptScan(f *testing.F) {
	f.Add("GODEBUG=asyncpreemptoff=1\x00", 3)
	f.Add("A=1\x00GODEBUG=x=1,asyncpreemptoff=-0\x00", 1)
	f.Fuzz(func(t *testing.T, env string, chunk int) {
		chunk = 1 + (chunk&0xff)%64
		var s preemptScan
		for i := 0; i < len(env); i += chunk {
			feed(&s, env[i:min(i+chunk, len(env))])
		}
		if got, want := s.end(), refPreempt(env); got != want {
			t.Fatalf("%q: %d, want %d", env, got, want)
		}
	})
}

// AsyncPreemptOff agrees with the reference on this process's own start-up
// environment (xproc_test.go runs a child started with the setting), and
// reading it allocates nothing.
func TestAsyncPreemptOffThisProcess(t *testing.T) {
	environ, err := os.ReadFile("/proc/self/environ")
	if err != nil {
		t.Skip("no /proc/self/environ:", err)
	}
	if got, want := AsyncPreemptOff(), refPreempt(string(environ)) != 0; got != want {
		t.Fatalf("AsyncPreemptOff() = %v, want %v", got, want)
	}
	if n := testing.AllocsPerRun(10, readAsyncPreemptOff); n != 0 {
		t.Fatalf("reading /proc/self/environ: %v allocations", n)
	}
}
