package tuning

import (
	"math"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

func TestGoChecks(t *testing.T) {
	const off = math.MaxInt64
	cases := []struct {
		name     string
		g        GoSettings
		spinners int
		id       string
		want     Severity
		contains string
	}{
		{"gomaxprocs_ok", GoSettings{GOMAXPROCS: 4}, 2, "go-gomaxprocs", OK, "≥ spinners+2 = 4"},
		{"gomaxprocs_short_by_one", GoSettings{GOMAXPROCS: 3}, 2, "go-gomaxprocs", Warn, "runtime.GOMAXPROCS(4)"},
		{"gomaxprocs_starved", GoSettings{GOMAXPROCS: 2}, 2, "go-gomaxprocs", Crit, "GOMAXPROCS=4"},
		{"asyncpreempt_env", GoSettings{GODEBUG: "x=1,asyncpreemptoff=1"}, 1, "go-asyncpreempt", OK, ""},
		{"asyncpreempt_last_wins", GoSettings{GODEBUG: "asyncpreemptoff=1, asyncpreemptoff=0"}, 1, "go-asyncpreempt", Info, "GODEBUG=asyncpreemptoff=1 ./yourprog"},
		{"asyncpreempt_default_unset", GoSettings{}, 1, "go-asyncpreempt", Info, "only the environment variable works"},
		{"gc_on_unlimited", GoSettings{GCPercent: 100, MemoryLimit: off}, 1, "go-gc", Warn, "debug.SetGCPercent(-1)"},
		{"gc_on_limited", GoSettings{GCPercent: 100, MemoryLimit: 1 << 30}, 1, "go-gc", Info, "with a memory limit"},
		{"gc_off_unlimited", GoSettings{GCPercent: -1, MemoryLimit: off}, 1, "go-gc", Info, "debug.SetMemoryLimit"},
		{"gc_off_limited", GoSettings{GCPercent: -1, MemoryLimit: 1 << 30}, 1, "go-gc", OK, "1073741824 bytes"},
		{"updatemaxprocs_default", GoSettings{}, 1, "go-updatemaxprocs", Info, "//go:debug updatemaxprocs=0"},
		{"updatemaxprocs_env_godebug", GoSettings{GODEBUG: "updatemaxprocs=0"}, 1, "go-updatemaxprocs", OK, ""},
		{"updatemaxprocs_binary_default", GoSettings{DefaultGODEBUG: "updatemaxprocs=0"}, 1, "go-updatemaxprocs", OK, ""},
		{"updatemaxprocs_env_overrides_default", GoSettings{DefaultGODEBUG: "updatemaxprocs=0", GODEBUG: "updatemaxprocs=1"}, 1, "go-updatemaxprocs", Info, ""},
		{"updatemaxprocs_gomaxprocs_env", GoSettings{GOMAXPROCSEnv: "6"}, 1, "go-updatemaxprocs", OK, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := byID(t, goChecks(tc.g, tc.spinners))
			f := got[tc.id]
			if f.Severity != tc.want {
				t.Errorf("%s: %v, want %v: %s", tc.id, f.Severity, tc.want, f.Summary)
			}
			if !strings.Contains(f.Summary+f.Evidence+f.Fix, tc.contains) {
				t.Errorf("%s: %q not in %+v", tc.id, tc.contains, f)
			}
			if len(got) != 4 {
				t.Errorf("%d Go findings, want 4", len(got))
			}
		})
	}
}

// TestReadGoSettings reads this test process, then changes GOGC and the
// memory limit and reads them back.
func TestReadGoSettings(t *testing.T) {
	g := ReadGoSettings()
	if g.GOMAXPROCS != runtime.GOMAXPROCS(0) {
		t.Errorf("GOMAXPROCS %d, want %d", g.GOMAXPROCS, runtime.GOMAXPROCS(0))
	}
	oldGC := debug.SetGCPercent(-1)
	oldLim := debug.SetMemoryLimit(1 << 40)
	defer func() {
		debug.SetGCPercent(oldGC)
		debug.SetMemoryLimit(oldLim)
	}()
	g = ReadGoSettings()
	if g.GCPercent != -1 || g.MemoryLimit != 1<<40 {
		t.Errorf("GC %d, limit %d; want -1, %d", g.GCPercent, g.MemoryLimit, int64(1<<40))
	}
	debug.SetGCPercent(37)
	debug.SetMemoryLimit(math.MaxInt64)
	if g = ReadGoSettings(); g.GCPercent != 37 || g.MemoryLimit != math.MaxInt64 {
		t.Errorf("GC %d, limit %d; want 37, none", g.GCPercent, g.MemoryLimit)
	}
	// Check with a nil Runtime reads the process too.
	if fs := byID(t, Check(Options{FS: base, IncludeOK: true})); fs["go-gc"].Severity != Warn {
		t.Errorf("live go-gc with GOGC=37 and no limit: %+v", fs["go-gc"])
	}
}
