package agent

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/spinwire/spinwire/affinity"
)

// mapRead reads a fixture tree rooted at "/".
func mapRead(m fstest.MapFS) readFunc {
	return func(path string, buf []byte) (int, bool) {
		f, ok := m[strings.TrimPrefix(path, "/")]
		if !ok {
			return 0, false
		}
		return copy(buf, f.Data), true
	}
}

// warning runs cpuWarning and returns its line ("" for none).
func warning(read readFunc, cpu int, others []int) string {
	if !cpuWarning(read, cpu, others) {
		return ""
	}
	return warnLine.String()
}

func TestCPUWarning(t *testing.T) {
	cpu := func(n, file, s string) (string, *fstest.MapFile) {
		return "sys/devices/system/cpu/cpu" + n + "/topology/" + file, &fstest.MapFile{Data: []byte(s + "\n")}
	}
	host := func(isolated string, files ...any) fstest.MapFS {
		m := fstest.MapFS{"sys/devices/system/cpu/isolated": {Data: []byte(isolated + "\n")}}
		for i := 0; i < len(files); i += 2 {
			m[files[i].(string)] = files[i+1].(*fstest.MapFile)
		}
		return m
	}
	p2, f2 := cpu("2", "core_cpus_list", "2,18")
	p18, f18 := cpu("18", "thread_siblings_list", "2,18")
	cases := []struct {
		name   string
		fsys   fstest.MapFS
		cpu    int
		others []int
		want   []string // substrings, in order; nil: no warning
	}{
		{"isolated_own_core", host("2-7", p2, f2), 3, []int{2}, nil},
		{"not_isolated", host("2-7"), 9, nil, []string{"spinwire: spinner CPU 9 is not isolated", "[isolcpus]", "pingpong -check"}},
		{"cgroup_partition", host("", "sys/fs/cgroup/cpuset.cpus.isolated", &fstest.MapFile{Data: []byte("9\n")}), 9, nil, nil},
		{"siblings", host("2-18", p2, f2), 2, []int{18, 3}, []string{"spinner CPU 2 shares a physical core with spinner CPU 18 [smt-shared-core]"}},
		{"both_old_name", host("2", p18, f18), 18, []int{2, 18}, []string{"CPU 18 is not isolated", "; spinner CPU 18 shares a physical core with spinner CPU 2"}},
		{"no_sysfs", fstest.MapFS{}, 1, []int{0}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := warning(mapRead(tc.fsys), tc.cpu, tc.others)
			if tc.want == nil {
				if got != "" {
					t.Fatalf("warned %q", got)
				}
				return
			}
			rest := got
			for _, w := range tc.want {
				i := strings.Index(rest, w)
				if i < 0 {
					t.Fatalf("%q not (in order) in %q", w, got)
				}
				rest = rest[i+len(w):]
			}
			if strings.Contains(got, "\n") {
				t.Fatalf("multi-line warning %q", got)
			}
		})
	}
}

func TestAgentWarnDefaultsToStderr(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	old := os.Stderr
	os.Stderr = w
	var l line
	l.add("spinwire: a line")
	(&Agent{}).warn(&l)
	os.Stderr = old
	w.Close()
	b := make([]byte, 64)
	n, _ := r.Read(b)
	if string(b[:n]) != "spinwire: a line\n" {
		t.Fatalf("stderr got %q", b[:n])
	}
	var got string
	(&Agent{Logf: func(format string, args ...any) { got = format + "|" + fmt.Sprintf(format, args...) }}).warn(&l)
	if got != "%s|spinwire: a line" {
		t.Fatalf("Logf got %q", got)
	}
}

// The live host: cpuWarning through raw syscalls says what
// affinity.PlacementFS says through os.DirFS, and allocates nothing.
func TestCPUWarningHost(t *testing.T) {
	allowed, err := affinity.Allowed()
	if err != nil || len(allowed) == 0 {
		t.Skipf("no allowed CPUs: %v", err)
	}
	root := os.DirFS("/")
	for _, cpu := range allowed {
		others := slices.DeleteFunc(slices.Clone(allowed), func(c int) bool { return c == cpu })
		p := affinity.PlacementFS(root, cpu, others)
		got := warning(readHost, cpu, others)
		wantIso := p.IsolatedKnown && !p.Isolated.Contains(cpu)
		if strings.Contains(got, "is not isolated") != wantIso {
			t.Errorf("CPU %d: %q; PlacementFS says isolated known %v, isolated %v", cpu, got, p.IsolatedKnown, p.Isolated)
		}
		shared := make([]string, len(p.Shared))
		for i, c := range p.Shared {
			shared[i] = fmt.Sprint(c)
		}
		if len(p.Shared) > 0 != strings.Contains(got, "shares a physical core with spinner CPU "+strings.Join(shared, ",")+" ") {
			t.Errorf("CPU %d: %q; PlacementFS says it shares its core with %v", cpu, got, p.Shared)
		}
		if a := testing.AllocsPerRun(10, func() { cpuWarning(readHost, cpu, others) }); a != 0 {
			t.Errorf("cpuWarning on the host allocates %v times", a)
		}
	}
	if n, ok := readHost("/nonexistent/spinwire", warnFile[:]); ok || n != 0 {
		t.Errorf("readHost of a missing file: %d, %v", n, ok)
	}
	if _, ok := readHost("/"+strings.Repeat("x", len(warnPath)), warnFile[:]); ok {
		t.Error("readHost took a path longer than its buffer")
	}
	if _, ok := readHost("/proc/self/maps", make([]byte, 8)); ok {
		t.Error("readHost took a file longer than the buffer")
	}
}

func TestInList(t *testing.T) {
	cases := []struct {
		list   string
		cpu    int
		in, ok bool
	}{
		{"0-3,8,10-11\n", 2, true, true},
		{"0-3,8,10-11\n", 8, true, true},
		{"0-3,8,10-11", 9, false, true},
		{"0-3,8,10-11", 11, true, true},
		{"", 0, false, true},
		{"(null)\n", 0, false, true},
		{"5", 5, true, true},
		{"3-1", 2, false, false},
		{"1,,2", 1, false, false},
		{"1-", 1, false, false},
		{"x", 1, false, false},
		{"1,2,", 1, false, false},
		{"99999999999", 1, false, false},
	}
	for _, c := range cases {
		if in, ok := inList([]byte(c.list), c.cpu); in != c.in || ok != c.ok {
			t.Errorf("inList(%q, %d) = %v, %v; want %v, %v", c.list, c.cpu, in, ok, c.in, c.ok)
		}
	}
}

// FuzzInList: inList agrees with affinity.ParseList on what is a list and
// what is in it.
func FuzzInList(f *testing.F) {
	f.Add("0-3,8,10-11", 9)
	f.Add("(null)", 0)
	f.Fuzz(func(t *testing.T, s string, cpu int) {
		in, ok := inList([]byte(s), cpu)
		set, err := affinity.ParseList(s)
		if err != nil {
			if ok && in {
				t.Fatalf("inList(%q, %d) = in; ParseList: %v", s, cpu, err)
			}
			return
		}
		if ok && in != set.Contains(cpu) {
			t.Fatalf("inList(%q, %d) = %v; ParseList: %v", s, cpu, in, set)
		}
	})
}
