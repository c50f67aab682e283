package affinity

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestParseList(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want CPUSet
	}{
		{"", nil},
		{"\n", nil},
		{"0", CPUSet{0}},
		{"0-3", CPUSet{0, 1, 2, 3}},
		{"0-3,8,10-11", CPUSet{0, 1, 2, 3, 8, 10, 11}},
		{"10-11,0-1,1", CPUSet{0, 1, 10, 11}}, // unsorted, overlapping
		{"5-5", CPUSet{5}},
		{"007", CPUSet{7}},
		{"0-7:2/4", CPUSet{0, 1, 4, 5}},
		{"0-9:1/3", CPUSet{0, 3, 6, 9}},
		{"2-5:4/4", CPUSet{2, 3, 4, 5}},
		{"0-3:2/2", CPUSet{0, 1, 2, 3}},
		{"  0-1 , 4\n", CPUSet{0, 1, 4}},
		{"\t3\t", CPUSet{3}},
		{"0 - 2", CPUSet{0, 1, 2}},
		{"8191", CPUSet{MaxCPU - 1}},
	} {
		got, err := ParseList(tc.in)
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("ParseList(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}

func TestParseListErrors(t *testing.T) {
	for _, in := range []string{
		",", "0,", ",0", "0,,1", // empty elements
		"a", "1a", "0x1", "+1", "-1", "1-", "-", "1--2", "1-2-3", "0-3,x",
		"3-1",    // backwards
		"8192",   // = MaxCPU
		"0-8192", // range end too big
		"99999999999999999999999",
		"0 1",     // blank inside a number
		"1:1/2",   // stride without range
		"0-7:2",   // stride without group
		"0-7:0/4", // used < 1
		"0-7:3/2", // group < used
		"0-7:a/4", "0-7:2/b", "0-7:2/4/8", "0-7:2/8193",
		"all", "N",
	} {
		got, err := ParseList(in)
		if !errors.Is(err, ErrCPUList) {
			t.Errorf("ParseList(%q) = %v, %v; want ErrCPUList", in, got, err)
			continue
		}
		if !strings.Contains(err.Error(), strings.TrimSpace(in)) {
			t.Errorf("ParseList(%q) error %q does not quote the input", in, err)
		}
	}
}

func TestCPUSetString(t *testing.T) {
	for _, tc := range []struct {
		set  CPUSet
		want string
	}{
		{nil, ""},
		{CPUSet{5}, "5"},
		{CPUSet{0, 1}, "0-1"},
		{CPUSet{0, 1, 2, 3, 8, 10, 11}, "0-3,8,10-11"},
		{CPUSet{1, 3, 5}, "1,3,5"},
		{CPUSet{0, 2, 3, 4, MaxCPU - 1}, "0,2-4,8191"},
	} {
		if got := tc.set.String(); got != tc.want {
			t.Errorf("%v.String() = %q, want %q", []int(tc.set), got, tc.want)
		}
		back, err := ParseList(tc.want)
		if err != nil || !slices.Equal(back, tc.set) {
			t.Errorf("ParseList(%q) = %v, %v; want %v", tc.want, back, err, tc.set)
		}
	}
}

func TestCPUSetOps(t *testing.T) {
	a := CPUSet{0, 1, 2, 5, 8}
	b := CPUSet{1, 2, 3, 8, 9}
	if got := a.Intersect(b); !slices.Equal(got, CPUSet{1, 2, 8}) {
		t.Errorf("Intersect = %v", got)
	}
	if got := a.Minus(b); !slices.Equal(got, CPUSet{0, 5}) {
		t.Errorf("Minus = %v", got)
	}
	if got := b.Minus(a); !slices.Equal(got, CPUSet{3, 9}) {
		t.Errorf("Minus = %v", got)
	}
	if got := a.Union(b); !slices.Equal(got, CPUSet{0, 1, 2, 3, 5, 8, 9}) {
		t.Errorf("Union = %v", got)
	}
	if got := CPUSet(nil).Union(b); !slices.Equal(got, b) {
		t.Errorf("nil ∪ b = %v", got)
	}
	if got := a.Union(nil); !slices.Equal(got, a) {
		t.Errorf("a ∪ nil = %v", got)
	}
	if CPUSet(nil).Intersect(a) != nil || a.Minus(a) != nil || CPUSet(nil).Union(nil) != nil {
		t.Error("empty results are nil")
	}
	if !a.Contains(5) || a.Contains(4) || CPUSet(nil).Contains(0) {
		t.Error("Contains")
	}
	if got := (CPUSet{3, 1, 3, 2, 1}).Normalize(); !slices.Equal(got, CPUSet{1, 2, 3}) {
		t.Errorf("Normalize = %v", got)
	}
	// Results are fresh slices: appending to them leaves the inputs alone.
	u := a.Union(b)
	_ = append(u[:1], 99)
	if !slices.Equal(a, CPUSet{0, 1, 2, 5, 8}) || !slices.Equal(b, CPUSet{1, 2, 3, 8, 9}) {
		t.Error("an operation aliases its input")
	}
}

func FuzzParseList(f *testing.F) {
	for _, s := range []string{"", "0", "0-3,8,10-11", "0-7:2/4", " 1 , 2 ", "0-8191", "3-1", "1:1/2", "(null)", "0-1-2"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		set, err := ParseList(s)
		if err != nil {
			if !errors.Is(err, ErrCPUList) || set != nil {
				t.Fatalf("ParseList(%q) = %v, %v", s, set, err)
			}
			return
		}
		if len(set) > MaxCPU || !slices.IsSorted(set) || len(slices.Compact(slices.Clone(set))) != len(set) {
			t.Fatalf("ParseList(%q) = %v: not canonical", s, set)
		}
		if len(set) > 0 && (set[0] < 0 || set[len(set)-1] >= MaxCPU) {
			t.Fatalf("ParseList(%q) = %v: out of range", s, set)
		}
		str := set.String()
		back, err := ParseList(str)
		if err != nil || !slices.Equal(back, set) {
			t.Fatalf("round trip %q → %v → %q → %v, %v", s, set, str, back, err)
		}
		if back.String() != str {
			t.Fatalf("String not stable: %q then %q", str, back.String())
		}
		for _, cpu := range []int{-1, 0, 1, 7, 64, MaxCPU - 1, MaxCPU} {
			if in, err := ListContains(s, cpu); err != nil || in != set.Contains(cpu) {
				t.Fatalf("ListContains(%q, %d) = %v, %v; ParseList: %v", s, cpu, in, err, set)
			}
		}
	})
}

// ListContains answers as ParseList's set would, refuses what ParseList
// refuses, and allocates nothing on a list.
func TestListContains(t *testing.T) {
	for _, tc := range []struct {
		in   string
		cpus CPUSet
	}{{"", nil}, {"0-3,8,10-11\n", CPUSet{0, 1, 2, 3, 8, 10, 11}}, {"0-7:2/4", CPUSet{0, 1, 4, 5}}, {"8191", CPUSet{MaxCPU - 1}}} {
		for cpu := -1; cpu <= 12; cpu++ {
			if in, err := ListContains(tc.in, cpu); err != nil || in != tc.cpus.Contains(cpu) {
				t.Errorf("ListContains(%q, %d) = %v, %v", tc.in, cpu, in, err)
			}
		}
	}
	for _, in := range []string{"0,", "3-1", "8192", "1:1/2", "(null)"} {
		if ok, err := ListContains(in, 1); ok || !errors.Is(err, ErrCPUList) {
			t.Errorf("ListContains(%q) = %v, %v; want ErrCPUList", in, ok, err)
		}
	}
	if a := testing.AllocsPerRun(20, func() { ListContains("0-3,8,10-11,16-31:2/4", 9) }); a != 0 {
		t.Errorf("ListContains allocates %v times", a)
	}
}
