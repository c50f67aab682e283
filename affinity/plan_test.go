package affinity

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
)

type planCase struct {
	name    string
	allowed string // cpulist; "" means every online CPU
	k       int
	want    []int
	warns   []string // substrings, one per warning, in order
}

func runPlans(t *testing.T, topo *Topo, cases []planCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			allowed := topo.Online
			if tc.allowed != "" {
				var err error
				if allowed, err = ParseList(tc.allowed); err != nil {
					t.Fatal(err)
				}
			}
			got, err := topo.Plan(allowed, tc.k)
			if err != nil {
				t.Fatalf("Plan(%s, %d): %v", allowed, tc.k, err)
			}
			if !slices.Equal(got.CPUs, tc.want) {
				t.Errorf("Plan(%s, %d) = %v, want %v", allowed, tc.k, got.CPUs, tc.want)
			}
			if len(got.Warnings) != len(tc.warns) {
				t.Fatalf("warnings %q, want %d matching %q", got.Warnings, len(tc.warns), tc.warns)
			}
			for i, w := range tc.warns {
				if !strings.Contains(got.Warnings[i], w) {
					t.Errorf("warning %d = %q, want it to contain %q", i, got.Warnings[i], w)
				}
			}
			again, _ := topo.Plan(allowed, tc.k)
			if !slices.Equal(again.CPUs, got.CPUs) || !slices.Equal(again.Warnings, got.Warnings) {
				t.Errorf("Plan is not deterministic: %v then %v", got, again)
			}
		})
	}
}

const noIso = "no CPUs are isolated"

func TestPlan(t *testing.T) {
	t.Run("intel-2s", func(t *testing.T) {
		topo := mustTopo(t, loadFixture(t, "intel-2s"))
		runPlans(t, topo, []planCase{
			{name: "one_isolated", k: 1, want: []int{2}},
			{name: "two_isolated_distinct_cores", k: 2, want: []int{2, 3}},
			{name: "all_isolated_cores", k: 4, want: []int{2, 3, 4, 5}},
			{name: "isolated_then_same_socket", k: 5, want: []int{1, 2, 3, 4, 5},
				warns: []string{"only 4 of 5 planned CPUs are isolated (isolated: 2-5,18-21; of those allowed: 2-5,18-21)"}},
			// Socket 0's last core is CPU 0's; its sibling 16 is used
			// rather than leaving the L3 domain.
			{name: "whole_socket", k: 8, want: []int{1, 2, 3, 4, 5, 6, 7, 16},
				warns: []string{"only 4 of 8"}},
			{name: "spill_to_second_socket", k: 9, want: []int{1, 2, 3, 4, 5, 6, 7, 8, 16},
				warns: []string{"only 4 of 9", "span L3 domains 0-1, so messages cross between caches: no single L3 domain offers 9 distinct physical cores", "NUMA nodes 0-1"}},
			{name: "more_than_cores_shares_isolated_sibling_first", k: 17, want: []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 18},
				warns: []string{"only 5 of 17", "SMT siblings share a physical core (2 and 18): only 16 physical cores are allowed for 17 spinners", "L3 domains 0-1", "NUMA nodes 0-1"}},
			{name: "every_cpu_but_0", k: 31, want: seq(1, 31),
				warns: []string{"only 8 of 31", "SMT siblings", "L3 domains", "NUMA"}},
			{name: "every_cpu", k: 32, want: seq(0, 31),
				warns: []string{"only 8 of 32", "CPU 0 is used: only 32 CPUs are allowed for 32 spinners", "SMT", "L3", "NUMA"}},
			{name: "second_socket_only", allowed: "8-15,24-31", k: 2, want: []int{8, 9},
				warns: []string{"only 0 of 2 planned CPUs are isolated (isolated: 2-5,18-21; of those allowed: none)"}},
			{name: "one_isolated_core_both_threads", allowed: "2,18", k: 2, want: []int{2, 18},
				warns: []string{"SMT siblings share a physical core (2 and 18): only 1 physical cores"}},
			{name: "cpu0_core_sibling_over_cpu0", allowed: "0,16", k: 1, want: []int{16},
				warns: []string{"only 0 of 1"}},
			{name: "offline_cpus_ignored", allowed: "30-40", k: 2, want: []int{30, 31},
				warns: []string{"only 0 of 2"}},
		})
	})

	t.Run("amd-2ccx", func(t *testing.T) {
		topo := mustTopo(t, loadFixture(t, "amd-2ccx"))
		runPlans(t, topo, []planCase{
			{name: "two", k: 2, want: []int{1, 2}, warns: []string{noIso}},
			// CCX 0 would need CPU 8, CPU 0's sibling: CCX 1 is clean.
			{name: "four_in_the_ccx_without_cpu0", k: 4, want: []int{4, 5, 6, 7}, warns: []string{noIso}},
			{name: "five_spans_ccxs_cpu0_core_last", k: 5, want: []int{1, 4, 5, 6, 7},
				warns: []string{noIso, "span L3 domains 0-1"}},
			{name: "eight_cores", k: 8, want: []int{1, 2, 3, 4, 5, 6, 7, 8}, warns: []string{noIso, "L3 domains 0-1"}},
			{name: "nine_shares_a_core", k: 9, want: []int{1, 2, 3, 4, 5, 6, 7, 8, 9},
				warns: []string{noIso, "SMT siblings share a physical core (1 and 9): only 8 physical cores", "L3 domains 0-1"}},
			{name: "ccx1_only", allowed: "4-7,12-15", k: 3, want: []int{4, 5, 6}, warns: []string{noIso}},
		})

		iso := *topo
		iso.Isolated = CPUSet{3, 4, 11, 12} // cores 3 (CCX 0) and 4 (CCX 1)
		runPlans(t, &iso, []planCase{
			{name: "isolation_outranks_one_l3", k: 2, want: []int{3, 4},
				warns: []string{"span L3 domains 0-1, so messages cross between caches: no single L3 domain offers 2 isolated distinct physical cores, and isolation ranks first"}},
			{name: "isolated_core_then_its_ccx", allowed: "4-7,12-15", k: 2, want: []int{4, 5},
				warns: []string{"only 1 of 2 planned CPUs are isolated (isolated: 3-4,11-12; of those allowed: 4,12)"}},
			{name: "three_isolated_first", k: 3, want: []int{3, 4, 5},
				warns: []string{"only 2 of 3", "L3 domains 0-1"}},
		})
	})

	t.Run("vm-2cpu", func(t *testing.T) {
		topo := mustTopo(t, loadFixture(t, "vm-2cpu"))
		runPlans(t, topo, []planCase{
			{name: "two_needs_cpu0", k: 2, want: []int{0, 1},
				warns: []string{noIso, "CPU 0 is used: only 2 CPUs are allowed for 2 spinners"}},
			{name: "one_avoids_cpu0", k: 1, want: []int{1}, warns: []string{noIso}},
			{name: "only_cpu0_allowed", allowed: "0", k: 1, want: []int{0},
				warns: []string{noIso, "CPU 0 is used: only 1 CPUs"}},
		})
	})

	t.Run("no_cache_info", func(t *testing.T) {
		topo := mustTopo(t, fstest.MapFS{
			"sys/devices/system/cpu/online":   {Data: []byte("0-3\n")},
			"sys/devices/system/cpu/isolated": {Data: []byte("3\n")},
		})
		runPlans(t, topo, []planCase{
			{name: "l3_unknown_is_said", k: 2, want: []int{1, 3},
				warns: []string{"only 1 of 2", "L3 sharing is unknown (no L3 cache listed in sysfs): each package is taken as one L3 domain"}},
		})
	})
}

func seq(lo, hi int) []int {
	var out []int
	for i := lo; i <= hi; i++ {
		out = append(out, i)
	}
	return out
}

func TestPlanErrors(t *testing.T) {
	topo := mustTopo(t, loadFixture(t, "vm-2cpu"))
	for _, tc := range []struct {
		name    string
		topo    *Topo
		allowed CPUSet
		k       int
		is      error
		names   string
	}{
		{"k_zero", topo, CPUSet{0, 1}, 0, ErrInvalidCount, "k=0"},
		{"k_negative", topo, CPUSet{0, 1}, -3, ErrInvalidCount, "k=-3"},
		{"k_too_big", topo, CPUSet{0, 1}, 3, ErrInvalidCount, "k=3 but only 2 allowed online cpus (0-1)"},
		{"nothing_allowed_online", topo, CPUSet{5, 6}, 1, ErrInvalidCount, "k=1 but only 0 allowed online cpus (none)"},
		{"allowed_negative", topo, CPUSet{-1, 0}, 1, ErrInvalidCPU, "cpu=-1"},
		{"allowed_too_big", topo, CPUSet{0, MaxCPU}, 1, ErrInvalidCPU, fmt.Sprintf("cpu=%d", MaxCPU)},
		{"nil_topo", nil, CPUSet{0}, 1, ErrTopology, "k=1"},
		{"empty_topo", &Topo{}, CPUSet{0}, 2, ErrTopology, "k=2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.topo.Plan(tc.allowed, tc.k)
			if !errors.Is(err, tc.is) || !strings.Contains(err.Error(), tc.names) {
				t.Errorf("err = %v, want %v naming %q", err, tc.is, tc.names)
			}
		})
	}
	t.Run("unsorted_allowed_is_normalised_not_modified", func(t *testing.T) {
		allowed := CPUSet{1, 0, 1}
		got, err := topo.Plan(allowed, 2)
		if err != nil || !slices.Equal(got.CPUs, []int{0, 1}) {
			t.Errorf("Plan = %v, %v", got, err)
		}
		if !slices.Equal(allowed, CPUSet{1, 0, 1}) {
			t.Errorf("caller's set modified: %v", allowed)
		}
	})
}

func TestPlanLive(t *testing.T) {
	for _, k := range []int{0, -1} {
		if _, err := Plan(k); !errors.Is(err, ErrInvalidCount) || !strings.Contains(err.Error(), fmt.Sprintf("k=%d", k)) {
			t.Errorf("Plan(%d) err = %v", k, err)
		}
	}
	allowed, err := Allowed()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Plan(len(allowed) + 1); !errors.Is(err, ErrInvalidCount) {
		t.Errorf("Plan(%d) err = %v", len(allowed)+1, err)
	}
	p, err := Plan(len(allowed))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(p.CPUs, []int(allowed)) {
		t.Errorf("Plan(all %d allowed) = %v, want %v", len(allowed), p.CPUs, allowed)
	}
	t.Logf("Plan(%d) = %v; warnings %q", len(allowed), p.CPUs, p.Warnings)
	if len(allowed) == 2 && allowed.String() == "0-1" {
		// The development VM: 2 CPUs, no isolation.
		if !slices.Equal(p.CPUs, []int{0, 1}) || len(p.Warnings) == 0 || !strings.Contains(p.Warnings[0], noIso) {
			t.Errorf("Plan(2) on the 2-CPU VM = %+v", p)
		}
	}
}
