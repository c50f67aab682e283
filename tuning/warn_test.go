package tuning

import (
	"bytes"
	"fmt"
	"log"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

func TestSpinnerWarnings(t *testing.T) {
	cases := []struct {
		name   string
		tree   string
		cpu    int
		others []int
		want   []string // IDs, in order
		text   string
	}{
		{"tuned_isolated_own_core", "tuned-server", 3, []int{2, 4}, nil, ""},
		{"tuned_not_isolated", "tuned-server", 9, []int{2}, []string{"isolcpus"}, "isolcpus=managed_irq,domain,2-7,9"},
		{"half_siblings", "half-tuned-server", 2, []int{18, 3}, []string{"smt-shared-core"}, "shares a physical core with spinner CPU 18"},
		{"half_both", "half-tuned-server", 18, []int{2, 18}, []string{"isolcpus", "smt-shared-core"}, "CPU 18 is not isolated"},
		{"vm", "untuned-vm", 1, nil, []string{"isolcpus"}, "isolcpus=managed_irq,domain,1"},
		{"no_sysfs", "does-not-exist", 1, []int{0}, nil, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fs := spinnerWarnings(os.DirFS("testdata/"+tc.tree), tc.cpu, tc.others)
			var ids []string
			var all strings.Builder
			for _, f := range fs {
				ids = append(ids, f.ID)
				fmt.Fprintf(&all, "%s %s %s\n", f.Summary, f.Evidence, f.Fix)
			}
			if fmt.Sprint(ids) != fmt.Sprint(tc.want) {
				t.Errorf("IDs %v, want %v\n%s", ids, tc.want, all.String())
			}
			if !strings.Contains(all.String(), tc.text) {
				t.Errorf("%q not in\n%s", tc.text, all.String())
			}
		})
	}
	// The live host: no panic; whatever it says has IDs from the set.
	for _, f := range SpinnerWarnings(1, []int{0}) {
		if f.ID != "isolcpus" && f.ID != "smt-shared-core" {
			t.Errorf("live: unexpected %+v", f)
		}
	}
}

func TestWarnNow(t *testing.T) {
	var got []string
	logf := func(format string, args ...any) { got = append(got, fmt.Sprintf(format, args...)) }
	warnNow(logf, nil)
	if len(got) != 0 {
		t.Fatalf("logged without findings: %q", got)
	}
	warnNow(logf, spinnerWarnings(os.DirFS("testdata/half-tuned-server"), 18, []int{2}))
	if len(got) != 1 {
		t.Fatalf("%d lines, want 1", len(got))
	}
	for _, w := range []string{"spinwire: spinner CPU 18 is not isolated", "[isolcpus]", "[smt-shared-core]", "pingpong -check"} {
		if !strings.Contains(got[0], w) {
			t.Errorf("%q not in %q", w, got[0])
		}
	}
	if strings.Contains(got[0], "\n") {
		t.Errorf("multi-line warning: %q", got[0])
	}
	var logged bytes.Buffer
	log.SetOutput(&logged)
	defer log.SetOutput(os.Stderr)
	warnNow(nil, []Finding{{ID: "x", Summary: "via log.Printf"}}) // nil logf: log.Printf
	if !strings.Contains(logged.String(), "spinwire: via log.Printf [x]; run") {
		t.Errorf("log.Printf got %q", logged.String())
	}
}

// TestWarnOnce calls WarnOnce from many goroutines: one of them computes the
// warnings and logs at most one line; later calls, for any CPU, log nothing.
// (On the development VM CPU 1 is not isolated, so exactly one line comes
// out; on a tuned host none may.)
func TestWarnOnce(t *testing.T) {
	var n atomic.Int32
	logf := func(string, ...any) { n.Add(1) }
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() { WarnOnce(logf, 1, []int{0}) })
	}
	wg.Wait()
	WarnOnce(logf, 0, nil)
	if n.Load() > 1 {
		t.Fatalf("logged %d times", n.Load())
	}
	if len(SpinnerWarnings(1, []int{0})) > 0 && n.Load() != 1 {
		t.Fatal("a warning exists but WarnOnce logged nothing")
	}
}
