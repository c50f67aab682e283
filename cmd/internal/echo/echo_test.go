package echo

import (
	"bufio"
	"bytes"
	"io"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spinwire/spinwire/agent"
	"github.com/spinwire/spinwire/link"
)

func TestServesUntilStdinCloses(t *testing.T) {
	dir := t.TempDir()
	stdinR, stdinW := io.Pipe()
	outR, outW := io.Pipe()
	done := make(chan int, 1)
	go func() {
		done <- Main([]string{"-name", "e", "-dir", dir, "-maxconns", "8"}, stdinR, outW, io.Discard)
	}()
	line, err := bufio.NewReader(outR).ReadString('\n')
	if err != nil || line != "READY\n" {
		t.Fatalf("%q %v", line, err)
	}
	go io.Copy(io.Discard, outR)
	c, err := link.Dial[Msg, Resp]("e", link.DialOptions{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	var r Resp
	if err := c.Call(time.Now().Add(5*time.Second), &Msg{Seq: 9, Body: [4]uint64{1, 2, 3, 4}}, &r); err != nil || r.Seq != 9 || r.Body[3] != 4 {
		t.Fatalf("echo: %v %+v", err, r)
	}
	c.Close()
	stdinW.Close()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("exit %d", code)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("did not stop when stdin closed")
	}
}

func TestBadFlags(t *testing.T) {
	for _, args := range [][]string{{}, {"-name", "x", "-cpus", "a"}, {"-bogus"}} {
		var errb bytes.Buffer
		if code := Main(args, strings.NewReader(""), io.Discard, &errb); code != 2 {
			t.Errorf("%q: exit %d (%s)", args, code, errb.String())
		}
	}
	for _, h := range []string{"-h", "--help"} {
		var out bytes.Buffer
		if code := Main([]string{h}, strings.NewReader(""), &out, io.Discard); code != 0 || out.String() != Usage {
			t.Errorf("%s: exit %d, %q", h, code, out.String())
		}
	}
	var errb bytes.Buffer
	if code := Main([]string{"-name", "a/b"}, strings.NewReader(""), io.Discard, &errb); code != 1 || !strings.Contains(errb.String(), "invalid name") {
		t.Errorf("bad name: exit %d (%s)", code, errb.String())
	}
}

func TestParseArgs(t *testing.T) {
	cfg, err := parseArgs([]string{"-name=x", "--dir", "/d", "-cpus=1,3", "-maxconns", "8", "-depth=2", "-dedicated", "-push", "-defer"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Name != "x" || cfg.Dir != "/d" || len(cfg.CPUs) != 2 || cfg.CPUs[1] != 3 || cfg.Pollers != 2 ||
		cfg.MaxConns != 8 || cfg.Depth != 2 || cfg.Mode != agent.Dedicated || !cfg.Push || !cfg.Defer {
		t.Fatalf("%+v", cfg)
	}
	if cfg, err := parseArgs([]string{"-name", "y", "-dedicated=false"}); err != nil || cfg.Mode != agent.Preemptible || cfg.Pollers != 1 || cfg.MaxConns != 4096 || cfg.Depth != 4 {
		t.Fatalf("defaults: %+v %v", cfg, err)
	}
	for _, args := range [][]string{{"-name"}, {"-name", "x", "stray"}, {"-name", "x", "-dedicated=maybe"}, {"-name", "x", "-depth", "two"}, {"-"}, {"-name", "x", "-cpus="}} {
		if _, err := parseArgs(args); err == nil {
			t.Errorf("%q accepted", args)
		}
	}
}

// TestServerBinaryIsLean builds cmd/linkecho and checks that the packages
// a link server must not carry are not linked into it: each would be
// resident in every server (see the package comment).
func TestServerBinaryIsLean(t *testing.T) {
	if testing.Short() {
		t.Skip("builds cmd/linkecho")
	}
	gobin := "go" // go test puts its own go first in the PATH
	bin := filepath.Join(t.TempDir(), "linkecho")
	if out, err := exec.Command(gobin, "build", "-o", bin, "github.com/spinwire/spinwire/cmd/linkecho").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	out, err := exec.Command(gobin, "tool", "nm", bin).Output()
	if err != nil {
		t.Fatalf("nm: %v", err)
	}
	for _, pkg := range refused {
		if links(string(out), pkg) {
			t.Errorf("cmd/linkecho links %s", pkg)
		}
	}
}

// refused are the packages and modules the echo server must not link: the
// formatting, flag, logging and JSON packages, the host description
// (cpuid in any major version, tuning), the profilers and metrics, and the
// benchmark's histograms.
var refused = []string{
	"fmt", "flag", "log", "encoding/json", "runtime/pprof", "runtime/metrics",
	"github.com/klauspost/cpuid", "github.com/spinwire/spinwire/tuning",
	"github.com/HdrHistogram/hdrhistogram-go",
}

// links reports whether nm's output names a symbol of package pkg or of a
// package under it (github.com/klauspost/cpuid covers …/cpuid/v2).
func links(nm, pkg string) bool {
	return strings.Contains(nm, " "+pkg+".") || strings.Contains(nm, " "+pkg+"/")
}

func TestLinksMatchesPackageAndBelow(t *testing.T) {
	nm := " T fmt.Println\n T github.com/klauspost/cpuid/v2.Detect\n T runtime.main\n T flagx.Parse\n"
	for pkg, want := range map[string]bool{"fmt": true, "github.com/klauspost/cpuid": true, "flag": false, "log": false, "runtime": true} {
		if got := links(nm, pkg); got != want {
			t.Errorf("links(%q) = %v, want %v", pkg, got, want)
		}
	}
}

// TestPush: with -push the server pushes each request back, stamped,
// before its response, to a client that takes pushes; a plain client is
// answered as before.
func TestPush(t *testing.T) {
	dir := t.TempDir()
	stdinR, stdinW := io.Pipe()
	outR, outW := io.Pipe()
	done := make(chan int, 1)
	go func() { done <- Main([]string{"-name", "p", "-dir", dir, "-push"}, stdinR, outW, io.Discard) }()
	if line, err := bufio.NewReader(outR).ReadString('\n'); err != nil || line != "READY\n" {
		t.Fatalf("%q %v", line, err)
	}
	go io.Copy(io.Discard, outR)
	c, err := link.DialPush[Msg, Resp, Msg]("p", link.DialOptions{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	plain, err := link.Dial[Msg, Resp]("p", link.DialOptions{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	var r Resp
	var m Msg
	if err := c.Call(time.Now().Add(5*time.Second), &Msg{Seq: 4, Stamp: 1}, &r); err != nil || r.Seq != 4 {
		t.Fatalf("call: %v %+v", err, r)
	}
	if got, err := c.TryRecv(&m); !got || err != nil || m.Seq != 4 || m.Stamp <= 1 {
		t.Fatalf("push: %v %v %+v", got, err, m)
	}
	if err := plain.Call(time.Now().Add(5*time.Second), &Msg{Seq: 5}, &r); err != nil || r.Seq != 5 {
		t.Fatalf("plain call: %v %+v", err, r)
	}
	c.Close()
	plain.Close()
	stdinW.Close()
	if code := <-done; code != 0 {
		t.Fatalf("exit %d", code)
	}
}
