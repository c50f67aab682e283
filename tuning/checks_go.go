package tuning

import (
	"fmt"
	"math"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strings"
)

// GoSettings is a snapshot of the Go runtime settings Check judges. Tests
// build one by hand; ReadGoSettings takes it from the running process.
type GoSettings struct {
	// GOMAXPROCS is the current value, runtime.GOMAXPROCS(0).
	GOMAXPROCS int
	// GOMAXPROCSEnv is the GOMAXPROCS environment variable ("" when unset).
	// Setting it turns off the automatic GOMAXPROCS update (Go 1.25+).
	GOMAXPROCSEnv string
	// GODEBUG is the GODEBUG environment variable. asyncpreemptoff can be
	// set only here, at process start.
	GODEBUG string
	// DefaultGODEBUG holds the defaults compiled into the binary (go.mod
	// godebug lines, //go:debug directives, the go version), from
	// debug.ReadBuildInfo. GODEBUG overrides them.
	DefaultGODEBUG string
	// GCPercent is the GOGC value; negative means the collector is off.
	GCPercent int
	// MemoryLimit is the soft memory limit in bytes; math.MaxInt64 means none.
	MemoryLimit int64
}

// ReadGoSettings snapshots the running process. It reads GOGC and the memory
// limit from runtime/metrics ("/gc/gogc:percent", "/gc/gomemlimit:bytes")
// rather than with the SetGCPercent read-and-restore trick: a metrics read has
// no side effect, cannot race with another goroutine setting GOGC, and never
// waits for a running mark phase. It does not stop the world.
func ReadGoSettings() GoSettings {
	s := []metrics.Sample{{Name: "/gc/gogc:percent"}, {Name: "/gc/gomemlimit:bytes"}}
	metrics.Read(s)
	g := GoSettings{
		GOMAXPROCS:    runtime.GOMAXPROCS(0),
		GOMAXPROCSEnv: os.Getenv("GOMAXPROCS"),
		GODEBUG:       os.Getenv("GODEBUG"),
		GCPercent:     100,
		MemoryLimit:   math.MaxInt64,
	}
	if s[0].Value.Kind() == metrics.KindUint64 {
		g.GCPercent = int(int64(s[0].Value.Uint64())) // -1 (off) arrives as 2⁶⁴−1
	}
	if s[1].Value.Kind() == metrics.KindUint64 {
		g.MemoryLimit = int64(min(s[1].Value.Uint64(), math.MaxInt64))
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, kv := range bi.Settings {
			if kv.Key == "DefaultGODEBUG" {
				g.DefaultGODEBUG = kv.Value
			}
		}
	}
	return g
}

// godebug returns the effective value of a GODEBUG key: the environment
// overrides the binary's defaults, and within one string the last setting
// wins.
func (g GoSettings) godebug(key string) (string, bool) {
	val, found := "", false
	for _, src := range []string{g.DefaultGODEBUG, g.GODEBUG} {
		for kv := range strings.SplitSeq(src, ",") {
			k, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
			if ok && k == key {
				val, found = v, true
			}
		}
	}
	return val, found
}

func (g GoSettings) evidence() string {
	lim := "none"
	if g.MemoryLimit != math.MaxInt64 {
		lim = fmt.Sprintf("%d bytes", g.MemoryLimit)
	}
	return fmt.Sprintf("GOMAXPROCS=%d (env %q); GODEBUG=%q (binary defaults %q); GOGC=%d; memory limit %s",
		g.GOMAXPROCS, g.GOMAXPROCSEnv, g.GODEBUG, g.DefaultGODEBUG, g.GCPercent, lim)
}

// goChecks judges the Go runtime settings for a process that runs spinners
// spinners. IDs:
//   - "go-gomaxprocs": crit when GOMAXPROCS ≤ spinners (the rest of the
//     program runs only when sysmon preempts a spinner), warn when it is spinners+1
//     (GC workers, timers and the netpoller share one P), ok from spinners+2;
//   - "go-asyncpreempt": info when asyncpreemptoff=1 is not in effect
//     (fine for the default preemptible mode; the dedicated mode needs it),
//     ok when it is;
//   - "go-gc": warn when the collector is on with no memory limit, info
//     when it is on with a limit or off without one, ok when off with a
//     limit;
//   - "go-updatemaxprocs": info when neither updatemaxprocs=0 nor the
//     GOMAXPROCS variable turns the automatic GOMAXPROCS update off (a
//     runtime.GOMAXPROCS(n) call in the program also does, which a snapshot
//     cannot see), ok otherwise.
func goChecks(g GoSettings, spinners int) []Finding {
	ev := g.evidence()
	var out []Finding
	need := spinners + 2
	switch {
	case g.GOMAXPROCS <= spinners:
		out = append(out, Finding{"go-gomaxprocs", Crit,
			fmt.Sprintf("GOMAXPROCS=%d leaves no P for the rest of the program while %d spinners run: it only runs when sysmon preempts a spinner", g.GOMAXPROCS, spinners),
			ev, fmt.Sprintf("runtime.GOMAXPROCS(%d) // first thing in main; or run with GOMAXPROCS=%d", need, need)})
	case g.GOMAXPROCS < need:
		out = append(out, Finding{"go-gomaxprocs", Warn,
			fmt.Sprintf("GOMAXPROCS=%d < spinners+2 = %d: GC workers, timers and the netpoller share one P", g.GOMAXPROCS, need),
			ev, fmt.Sprintf("runtime.GOMAXPROCS(%d) // first thing in main; or run with GOMAXPROCS=%d", need, need)})
	default:
		out = append(out, Finding{"go-gomaxprocs", OK,
			fmt.Sprintf("GOMAXPROCS=%d ≥ spinners+2 = %d", g.GOMAXPROCS, need), ev, ""})
	}

	if v, _ := g.godebug("asyncpreemptoff"); v == "1" {
		out = append(out, Finding{"go-asyncpreempt", OK, "asyncpreemptoff=1: no preemption signals (dedicated mode possible)", ev, ""})
	} else {
		out = append(out, Finding{"go-asyncpreempt", Info,
			"asynchronous preemption is on: fine for preemptible spinners; dedicated mode needs GODEBUG=asyncpreemptoff=1",
			ev, "GODEBUG=asyncpreemptoff=1 ./yourprog   # only the environment variable works: //go:debug and go.mod godebug refuse this key"})
	}

	gcOn, limited := g.GCPercent >= 0, g.MemoryLimit != math.MaxInt64
	const gcFix = "debug.SetGCPercent(-1); debug.SetMemoryLimit(1 << 30) // in main, before the spinners start; size the limit to the program"
	switch {
	case gcOn && !limited:
		out = append(out, Finding{"go-gc", Warn,
			fmt.Sprintf("the garbage collector is on (GOGC=%d): every cycle stops the world, which waits for the spinners", g.GCPercent), ev, gcFix})
	case gcOn:
		out = append(out, Finding{"go-gc", Info,
			fmt.Sprintf("the garbage collector is on (GOGC=%d), with a memory limit", g.GCPercent), ev, gcFix})
	case !limited:
		out = append(out, Finding{"go-gc", Info,
			"the garbage collector is off with no memory limit: a leak grows until the OOM killer", ev,
			"debug.SetMemoryLimit(1 << 30) // size it to the program: the collector then runs only near the limit"})
	default:
		out = append(out, Finding{"go-gc", OK, "the garbage collector is off, with a memory limit as a safety net", ev, ""})
	}

	v, set := g.godebug("updatemaxprocs")
	if (set && v == "0") || g.GOMAXPROCSEnv != "" {
		out = append(out, Finding{"go-updatemaxprocs", OK, "the automatic GOMAXPROCS update is off", ev, ""})
	} else {
		out = append(out, Finding{"go-updatemaxprocs", Info,
			"the automatic GOMAXPROCS update may be on (unless the program calls runtime.GOMAXPROCS(n)): when the CPU limit changes it stops the world",
			ev, "runtime.GOMAXPROCS(n) // explicitly, in main; or build with //go:debug updatemaxprocs=0, or run with GODEBUG=updatemaxprocs=0"})
	}
	return out
}
