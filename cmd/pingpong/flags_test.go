package main

import (
	"flag"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestFlags/bad_value: every bad flag value is one line on stderr that
// names the flag, and exit status 2.
func TestFlags(t *testing.T) {
	dir := t.TempDir()
	bad := []struct {
		args []string
		flag string // what the message must name
	}{
		{[]string{"-n", "10"}, "-n"},
		{[]string{"-n", "x"}, "-n"},
		{[]string{"-n", "2000000000"}, "-n"},
		{[]string{"-n", "5000", "-duration", "1s"}, "-duration"},
		{[]string{"-duration", "1ms"}, "-duration"},
		{[]string{"-duration", "48h"}, "-duration"},
		{[]string{"-duration", "1s", "-mode", "throughput"}, "-duration"},
		{[]string{"-limit", "-1s"}, "-limit"},
		{[]string{"-limit", "1ms"}, "-limit"},
		{[]string{"-rounds", "0"}, "-rounds"},
		{[]string{"-rounds", "101"}, "-rounds"},
		{[]string{"-warmup", "-5"}, "-warmup"},
		{[]string{"-warmup", "20000000"}, "-warmup"},
		{[]string{"-warmup", "soon"}, "-warmup"},
		{[]string{"-warmup", "2h"}, "-warmup"},
		{[]string{"-size", "4"}, "-size"},
		{[]string{"-size", "65537"}, "-size"},
		{[]string{"-cpus", "1"}, "-cpus"},
		{[]string{"-cpus", "a,b"}, "-cpus"},
		{[]string{"-cpus", "-1,2"}, "-cpus"},
		{[]string{"-cpus", "0,4095"}, "-cpus"}, // not allowed: found after parsing
		{[]string{"-idle", "sleep"}, "-idle"},
		{[]string{"-agent", "lazy"}, "-agent"},
		{[]string{"-protocol", "tcp"}, "-protocol"},
		{[]string{"-slots", "100"}, "-slots"},
		{[]string{"-slots", "1"}, "-slots"},
		{[]string{"-demote", "-mode", "throughput"}, "-demote"},
		{[]string{"-demote", "-size", "96"}, "-demote"}, // a Log's size
		{[]string{"-batch", "0", "-mode", "throughput"}, "-batch"},
		{[]string{"-batch", "2048", "-mode", "throughput"}, "-batch"},
		{[]string{"-batch", "8"}, "-batch"}, // latency mode
		{[]string{"-rate", "0"}, "-rate"},
		{[]string{"-rate", "1e9"}, "-rate"},
		{[]string{"-rate", "NaN"}, "-rate"},
		{[]string{"-rate", "1000", "-mode", "latency"}, "-rate"},
		{[]string{"-mode", "rate"}, "-mode rate"},
		{[]string{"-mode", "bulk"}, "-mode"},
		{[]string{"-conns", "10", "-pipeline", "2", "-rotate"}, "-rotate"},
		{[]string{"-rotate"}, "-rotate"},
		{[]string{"-conns", "10", "-active", "11"}, "-active"},
		{[]string{"-active", "1"}, "-active"},
		{[]string{"-mode", "conns", "-push", "-defer"}, "-push"},
		{[]string{"-trials", "3"}, "-trials"},
		{[]string{"-mode", "conns", "-trials", "3"}, "-trials"},
		{[]string{"-mode", "conns", "-n", "5000"}, "-n"},
		{[]string{"-mode", "restart", "-pipeline", "2"}, "-pipeline"},
		{[]string{"-mode", "restart", "-conns", "0"}, "-conns"},
		{[]string{"-mode", "restart", "-trials", "0"}, "-trials"},
		{[]string{"-mode", "restart", "-trials", "5000"}, "-trials"},
		{[]string{"-mode", "restart", "-conns", "5", "-procs", "6"}, "-procs"},
		{[]string{"-conns", "0"}, "-conns"},
		{[]string{"-conns", "10", "-mode", "latency"}, "-conns"},
		{[]string{"-pipeline", "4"}, "-pipeline"},
		{[]string{"-pipeline", "0", "-conns", "10"}, "-pipeline"},
		{[]string{"-timeout", "10ms"}, "-timeout"},
		{[]string{"-transport", "smoke-signals"}, "-transport"},
		{[]string{"-protocol", "records"}, "-protocol records"},
		{[]string{"-protocol", "records", "-mode", "throughput", "-size", "128"}, "-protocol records"},
		{[]string{"-protocol", "rings"}, "-protocol"},
		{[]string{"-transport", "uds,"}, "-transport"},
		{[]string{"-transport", "none"}, "-transport none"},
		{[]string{"-plot", "chart.pdf"}, "-plot"},
		{[]string{"-plot", filepath.Join(dir, "missing", "c.svg"), "-n", "3000"}, "-plot"},
		{[]string{"-plot", "c.svg", "-mode", "throughput"}, "-plot"},
		{[]string{"-hgrm", dir, "-mode", "throughput"}, "-hgrm"},
		{[]string{"-hgrm", "/proc/no/such/dir", "-n", "3000"}, "-hgrm"},
		{[]string{"-out", "/proc/no/such/dir", "-n", "3000"}, "-out"},
		{[]string{"-floor", dir, "-n", "3000"}, "-floor"},
		{[]string{"-mode", "streams"}, "-floor"},
		{[]string{"-mode", "streams", "-floor", dir}, "-floor"}, // no floor_stream there
		{[]string{"-mode", "streams", "-floor", dir, "-passes", "0"}, "-passes"},
		{[]string{"-mode", "streams", "-floor", dir, "-sizes", "64,x"}, "-sizes"},
		{[]string{"-mode", "streams", "-floor", dir, "-sizes", "8192"}, "-sizes"},
		{[]string{"-mode", "streams", "-floor", dir, "-sizes", "100"}, "-size 100"}, // no Ring of 100-byte slots
		{[]string{"-mode", "streams", "-floor", dir, "-n", "5000"}, "-n"},
		{[]string{"-mode", "streams", "-floor", dir, "-count", "10"}, "-count"},
		{[]string{"-mode", "streams", "-floor", dir, "-duration", "1s"}, "-duration"},
		{[]string{"-passes", "2"}, "-passes"},
		{[]string{"-bogus"}, "-bogus"},
		{[]string{"extra"}, "extra"},
	}
	for _, b := range bad {
		t.Run(strings.Join(b.args, " "), func(t *testing.T) {
			args := b.args
			if args[0] != "-agent" {
				args = append(args, "-agent=preemptible") // in case it gets as far as measuring
			}
			code, out, errs := runArgs(t, args...)
			if code != 2 {
				t.Fatalf("exit %d, want 2; stderr %q", code, errs)
			}
			if out != "" {
				t.Errorf("stdout %q, want nothing", out)
			}
			ls := lines(errs)
			if len(ls) != 1 {
				t.Fatalf("stderr has %d lines, want 1: %q", len(ls), errs)
			}
			if !strings.HasPrefix(ls[0], "pingpong: ") || !strings.Contains(ls[0], b.flag) {
				t.Errorf("stderr %q does not name %s", ls[0], b.flag)
			}
		})
	}
}

// TestFlags_help/short: -h prints, on stdout, the modes and the common
// flags on one screen (at most 40 lines of at most 80 columns), says what
// -check does and points to -help-all, and exits 0.
func TestFlags_help(t *testing.T) {
	code, out, errs := runArgs(t, "-h")
	if code != 0 || errs != "" {
		t.Fatalf("-h: exit %d, stderr %q", code, errs)
	}
	ls := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if len(ls) > 40 {
		t.Errorf("-h is %d lines, want at most 40:\n%s", len(ls), out)
	}
	for _, l := range ls {
		if n := len([]rune(l)); n > 80 {
			t.Errorf("-h line of %d columns: %q", n, l)
		}
	}
	for _, want := range append([]string{"pingpong -check", "tuning findings", "-help-all", "Common flags:", "pingpong -mode M -h"}, modes...) {
		if !strings.Contains(out, want) {
			t.Errorf("-h does not mention %q", want)
		}
	}
	// The common flags, and no mode's own.
	for _, name := range commonFlags {
		if !strings.Contains(out, "\n  -"+name+" ") {
			t.Errorf("-h lacks -%s", name)
		}
	}
	for _, name := range []string{"pipeline", "trials", "batch", "hgrm"} {
		if strings.Contains(out, "\n  -"+name+" ") {
			t.Errorf("-h shows -%s, a mode's own flag", name)
		}
	}
}

// TestFlags_help/per_mode: -h after (or before) -mode M shows M's text and
// flags and those of every mode, not another mode's.
func TestFlags_help_per_mode(t *testing.T) {
	cases := []struct {
		args      []string
		want, not []string
	}{
		{[]string{"-mode", "conns", "-h"}, []string{"conns: request/response", "-conns N", "-pipeline K", "-rotate", "-active N", "-cpus A,B", "Flags of every mode"}, []string{"-transport", "-trials", "-batch"}},
		{[]string{"-h", "-mode=restart"}, []string{"restart: a link server", "-trials n", "-procs n", "-conns N", "-floor dir"}, []string{"-pipeline", "-transport"}},
		{[]string{"-mode", "rate", "-h"}, []string{"coordinated omission", "-rate R", "-transport list", "spin.Log record", "p50 by round"}, []string{"-batch", "-conns"}},
		{[]string{"-mode", "throughput", "-h"}, []string{"-batch n", "-slots n", "× spinwire"}, []string{"-rate R", "-pipeline"}},
		{[]string{"-mode", "streams", "-h"}, []string{"streams: the one-way stream", "-passes n", "-sizes list", "-count N", "-floor dir"}, []string{"-batch n", "-transport list"}},
	}
	for _, tc := range cases {
		code, out, _ := runArgs(t, tc.args...)
		if code != 0 {
			t.Errorf("%q: exit %d", tc.args, code)
		}
		for _, w := range tc.want {
			if !strings.Contains(out, w) {
				t.Errorf("%q does not show %q", tc.args, w)
			}
		}
		for _, w := range tc.not {
			if strings.Contains(out, w) {
				t.Errorf("%q shows %q", tc.args, w)
			}
		}
	}
}

// TestFlags_help/all: -help-all shows every flag, each with its argument
// name, under one group, and every section.
func TestFlags_help_all(t *testing.T) {
	code, out, _ := runArgs(t, "-help-all")
	if code != 0 {
		t.Fatalf("-help-all: exit %d", code)
	}
	for _, want := range []string{"coordinated omission", "× spinwire", "p50 by round", "spin.Log record", "Agent modes", "floor_death", "default 1000"} {
		if !strings.Contains(out, want) {
			t.Errorf("-help-all does not mention %q", want)
		}
	}
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	gs := defineGroups(fs, &config{})
	owners := map[string]int{}
	for _, g := range gs {
		for _, name := range g.names {
			owners[name]++
		}
	}
	fs.VisitAll(func(f *flag.Flag) {
		head := "  -" + f.Name
		if _, isBool := f.Value.(interface{ IsBoolFlag() bool }); !isBool {
			if argNames[f.Name] == "" {
				t.Errorf("-%s has no argument name", f.Name)
			}
			head += " " + argNames[f.Name]
		}
		if !strings.Contains(out, head+" ") {
			t.Errorf("-help-all lacks %q", head)
		}
		if owners[f.Name] != 1 {
			t.Errorf("-%s is in %d groups", f.Name, owners[f.Name])
		}
	})
}

func TestFlags_version(t *testing.T) {
	code, out, _ := runArgs(t, "-version")
	if code != 0 || !strings.HasPrefix(out, "pingpong ") {
		t.Fatalf("-version: exit %d, %q", code, out)
	}
}

func TestFlags_defaults_and_implications(t *testing.T) {
	c, err := parseFlags(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Mode != "latency" || c.N != defaultN || c.Warmup != defaultWU || c.WarmupTime != defaultWUT || c.Limit != 5*time.Second {
		t.Errorf("defaults: %+v", c)
	}
	if !reflect.DeepEqual(c.Transports, []string{"spinwire", "raw", "uds"}) {
		t.Errorf("default transports %v", c.Transports)
	}
	c, err = parseFlags([]string{"-rate", "5000", "-warmup", "250ms", "-duration", "3s", "-cpus", "1, 0"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Mode != "rate" || c.Rate != 5000 || c.WarmupTime != 250*time.Millisecond || c.N != 0 || c.Limit != 0 || c.CPUs != [2]int{1, 0} || !c.cpusGiven {
		t.Errorf("-rate/-warmup/-duration/-cpus: %+v", c)
	}
	c, err = parseFlags([]string{"-warmup", "0", "-mode", "throughput", "-batch", "16"}, nil)
	if err != nil || c.Warmup != 0 || c.WarmupTime != 0 || c.Batch != 16 {
		t.Errorf("-warmup 0 -batch 16: %+v, %v", c, err)
	}
	c, err = parseFlags([]string{"-warmup", "0s"}, nil)
	if err != nil || c.Warmup != 0 || c.WarmupTime != 0 {
		t.Errorf("-warmup 0s: %+v, %v", c, err)
	}
	// conns mode's -conns defaults to the headline load; restart's to 100.
	c, err = parseFlags([]string{"-mode", "conns"}, nil)
	if err != nil || c.Conns != 1000 || c.Pipeline != 1 {
		t.Errorf("-mode conns: %+v, %v", c, err)
	}
	c, err = parseFlags([]string{"-mode", "restart", "-floor", "build"}, nil)
	if err != nil || c.Conns != 100 || c.Trials != 20 || c.Procs != 4 {
		t.Errorf("-mode restart: %+v, %v", c, err)
	}
	c, err = parseFlags([]string{"-mode", "conns", "-push"}, nil)
	if err != nil || !c.Push {
		t.Errorf("-mode conns -push: %+v, %v", c, err)
	}
	c, err = parseFlags([]string{"-conns", "3", "-active", "2"}, nil)
	if err != nil || c.Mode != "conns" || c.Conns != 3 || c.Active != 2 {
		t.Errorf("-conns implies conns: %+v, %v", c, err)
	}
	c, err = parseFlags([]string{"-mode", "restart", "-conns", "3"}, nil)
	if err != nil || c.Mode != "restart" || c.Procs != 3 {
		t.Errorf("-mode restart -conns 3: %+v, %v", c, err)
	}
}

func TestParseTransports(t *testing.T) {
	cases := []struct {
		transport, idle string
		want            []string
	}{
		{"all", "", transportNames},
		{"all", "spin,park", []string{"spinwire", "spinwire-park", "raw", "uds", "uds-net", "pipe", "eventfd", "futex", "tcp"}},
		{"spinwire,uds", "", []string{"spinwire", "uds"}},
		{"spinwire,uds", "backoff,spin", []string{"spinwire-backoff", "spinwire", "uds"}},
		{"uds, spinwire-park,uds", "", []string{"uds", "spinwire-park"}},
		{"none", "", nil},
	}
	for _, tc := range cases {
		got, err := parseTransports(tc.transport, tc.idle)
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("parseTransports(%q, %q) = %v, %v; want %v", tc.transport, tc.idle, got, err, tc.want)
		}
	}
	for _, name := range transportNames {
		if transports[name] == nil {
			t.Errorf("transport %s is listed but not registered", name)
		}
	}
	if len(transports) != len(transportNames)+1 { // + test-fail
		t.Errorf("%d transports registered, %d listed", len(transports), len(transportNames))
	}
}
