package tuning

import (
	"fmt"
	"os"
	"strings"
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
