package spin

import (
	"os"
	"strings"
	"testing"
	"testing/fstest"
)

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
			got := cpuWarning(tc.fsys, tc.cpu, tc.others)
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
	(&Agent{}).warn("spinwire: a line")
	os.Stderr = old
	w.Close()
	b := make([]byte, 64)
	n, _ := r.Read(b)
	if string(b[:n]) != "spinwire: a line\n" {
		t.Fatalf("stderr got %q", b[:n])
	}
	var got string
	(&Agent{Logf: func(format string, args ...any) { got = format + "|" + args[0].(string) }}).warn("x")
	if got != "%s|x" {
		t.Fatalf("Logf got %q", got)
	}
}
