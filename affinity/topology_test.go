package affinity

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
)

// cpuLine renders the facts of one CPU for comparison with a table.
func cpuLine(c CPU) string {
	var caches []string
	for _, ch := range c.Caches {
		kind := map[string]string{"Data": "d", "Instruction": "i"}[ch.Type]
		caches = append(caches, fmt.Sprintf("L%d%s:%dK/%d/%s", ch.Level, kind, ch.Size>>10, ch.LineSize, ch.Shared))
	}
	return fmt.Sprintf("%d: pkg=%d die=%d core_id=%d core=%d sib=%s l3=%d/%s node=%d caches=%s",
		c.ID, c.Package, c.Die, c.CoreID, c.Core, c.Siblings, c.L3, c.L3CPUs, c.Node, strings.Join(caches, ","))
}

func mustTopo(t *testing.T, fsys fs.FS) *Topo {
	t.Helper()
	topo, err := TopologyFS(fsys)
	if err != nil {
		t.Fatalf("TopologyFS: %v", err)
	}
	return topo
}

func checkLines(t *testing.T, topo *Topo, want []string) {
	t.Helper()
	if len(topo.CPUs) != len(want) {
		t.Fatalf("%d CPUs, want %d", len(topo.CPUs), len(want))
	}
	for i, c := range topo.CPUs {
		if got := cpuLine(c); got != want[i] {
			t.Errorf("cpu %d:\n got %s\nwant %s", c.ID, got, want[i])
		}
	}
}

func checkSummary(t *testing.T, topo *Topo, online, iso, nohz string, pkgs, cores, l3s, nodes int, unknown []string) {
	t.Helper()
	if got := topo.Online.String(); got != online {
		t.Errorf("Online = %s, want %s", got, online)
	}
	if got := topo.Isolated.String(); got != iso {
		t.Errorf("Isolated = %q, want %q", got, iso)
	}
	if got := topo.NohzFull.String(); got != nohz {
		t.Errorf("NohzFull = %q, want %q", got, nohz)
	}
	if topo.Packages != pkgs || topo.Cores != cores || topo.L3Domains != l3s || topo.Nodes != nodes {
		t.Errorf("packages/cores/l3/nodes = %d/%d/%d/%d, want %d/%d/%d/%d",
			topo.Packages, topo.Cores, topo.L3Domains, topo.Nodes, pkgs, cores, l3s, nodes)
	}
	if !slices.Equal(topo.Unknown, unknown) {
		t.Errorf("Unknown = %q, want %q", topo.Unknown, unknown)
	}
}

// TestTopologyFS reads the three fixture trees of fixture_test.go and
// checks every CPU's line.
func TestTopologyFS(t *testing.T) {
	t.Run("intel-2s", func(t *testing.T) {
		topo := mustTopo(t, loadFixture(t, "intel-2s"))
		checkSummary(t, topo, "0-31", "2-5,18-21", "2-5,18-21", 2, 16, 2, 2, nil)
		// Linux numbers the first threads of socket 0, then of socket 1,
		// then the second threads in the same order: cpu c and c+16 share
		// a core. Skylake-SP core_id values are sparse and repeat per socket.
		coreIDs := [2][8]int{{0, 1, 2, 3, 4, 8, 9, 10}, {0, 2, 3, 4, 8, 9, 10, 11}}
		var want []string
		for c := range 32 {
			core := c % 16
			s := core / 8
			sib := fmt.Sprintf("%d,%d", core, core+16)
			l3 := [2]string{"0-7,16-23", "8-15,24-31"}[s]
			want = append(want, fmt.Sprintf("%d: pkg=%d die=0 core_id=%d core=%d sib=%s l3=%d/%s node=%d caches=L1d:32K/64/%s,L1i:32K/64/%s,L2:1024K/64/%s,L3:25344K/64/%s",
				c, s, coreIDs[s][core%8], core, sib, s, l3, s, sib, sib, sib, l3))
		}
		checkLines(t, topo, want)
		// Spot checks written out in full, so the formula above cannot hide a mistake.
		for i, line := range map[int]string{
			9:  "9: pkg=1 die=0 core_id=2 core=9 sib=9,25 l3=1/8-15,24-31 node=1 caches=L1d:32K/64/9,25,L1i:32K/64/9,25,L2:1024K/64/9,25,L3:25344K/64/8-15,24-31",
			21: "21: pkg=0 die=0 core_id=8 core=5 sib=5,21 l3=0/0-7,16-23 node=0 caches=L1d:32K/64/5,21,L1i:32K/64/5,21,L2:1024K/64/5,21,L3:25344K/64/0-7,16-23",
		} {
			if got := cpuLine(topo.CPUs[i]); got != line {
				t.Errorf("cpu %d:\n got %s\nwant %s", i, got, line)
			}
		}
		if topo.CacheLine != 64 {
			t.Errorf("CacheLine %d, want 64", topo.CacheLine)
		}
		if got := topo.Housekeeping().String(); got != "0-1,6-17,22-31" {
			t.Errorf("Housekeeping = %s", got)
		}
	})

	t.Run("amd-2ccx", func(t *testing.T) {
		topo := mustTopo(t, loadFixture(t, "amd-2ccx"))
		checkSummary(t, topo, "0-15", "", "", 1, 8, 2, 1, []string{"nohz_full"})
		const (
			c0 = "L1d:32K/64/%[1]d,%[2]d,L1i:32K/64/%[1]d,%[2]d,L2:512K/64/%[1]d,%[2]d,L3:16384K/64/0-3,8-11"
			c1 = "L1d:32K/64/%[1]d,%[2]d,L1i:32K/64/%[1]d,%[2]d,L2:512K/64/%[1]d,%[2]d,L3:16384K/64/4-7,12-15"
		)
		checkLines(t, topo, []string{
			"0: pkg=0 die=0 core_id=0 core=0 sib=0,8 l3=0/0-3,8-11 node=0 caches=" + fmt.Sprintf(c0, 0, 8),
			"1: pkg=0 die=0 core_id=1 core=1 sib=1,9 l3=0/0-3,8-11 node=0 caches=" + fmt.Sprintf(c0, 1, 9),
			"2: pkg=0 die=0 core_id=2 core=2 sib=2,10 l3=0/0-3,8-11 node=0 caches=" + fmt.Sprintf(c0, 2, 10),
			"3: pkg=0 die=0 core_id=3 core=3 sib=3,11 l3=0/0-3,8-11 node=0 caches=" + fmt.Sprintf(c0, 3, 11),
			"4: pkg=0 die=0 core_id=4 core=4 sib=4,12 l3=1/4-7,12-15 node=0 caches=" + fmt.Sprintf(c1, 4, 12),
			"5: pkg=0 die=0 core_id=5 core=5 sib=5,13 l3=1/4-7,12-15 node=0 caches=" + fmt.Sprintf(c1, 5, 13),
			"6: pkg=0 die=0 core_id=6 core=6 sib=6,14 l3=1/4-7,12-15 node=0 caches=" + fmt.Sprintf(c1, 6, 14),
			"7: pkg=0 die=0 core_id=7 core=7 sib=7,15 l3=1/4-7,12-15 node=0 caches=" + fmt.Sprintf(c1, 7, 15),
			"8: pkg=0 die=0 core_id=0 core=0 sib=0,8 l3=0/0-3,8-11 node=0 caches=" + fmt.Sprintf(c0, 0, 8),
			"9: pkg=0 die=0 core_id=1 core=1 sib=1,9 l3=0/0-3,8-11 node=0 caches=" + fmt.Sprintf(c0, 1, 9),
			"10: pkg=0 die=0 core_id=2 core=2 sib=2,10 l3=0/0-3,8-11 node=0 caches=" + fmt.Sprintf(c0, 2, 10),
			"11: pkg=0 die=0 core_id=3 core=3 sib=3,11 l3=0/0-3,8-11 node=0 caches=" + fmt.Sprintf(c0, 3, 11),
			"12: pkg=0 die=0 core_id=4 core=4 sib=4,12 l3=1/4-7,12-15 node=0 caches=" + fmt.Sprintf(c1, 4, 12),
			"13: pkg=0 die=0 core_id=5 core=5 sib=5,13 l3=1/4-7,12-15 node=0 caches=" + fmt.Sprintf(c1, 5, 13),
			"14: pkg=0 die=0 core_id=6 core=6 sib=6,14 l3=1/4-7,12-15 node=0 caches=" + fmt.Sprintf(c1, 6, 14),
			"15: pkg=0 die=0 core_id=7 core=7 sib=7,15 l3=1/4-7,12-15 node=0 caches=" + fmt.Sprintf(c1, 7, 15),
		})
		if got := topo.Housekeeping().String(); got != "0-15" {
			t.Errorf("Housekeeping = %s", got)
		}
	})

	t.Run("vm-2cpu", func(t *testing.T) {
		topo := mustTopo(t, loadFixture(t, "vm-2cpu"))
		checkSummary(t, topo, "0-1", "", "", 1, 2, 1, 1, []string{"nohz_full"})
		checkLines(t, topo, []string{
			"0: pkg=0 die=0 core_id=0 core=0 sib=0 l3=0/0-1 node=0 caches=L1d:48K/64/0,L1i:32K/64/0,L2:2048K/64/0,L3:266240K/64/0-1",
			"1: pkg=0 die=0 core_id=1 core=1 sib=1 l3=0/0-1 node=0 caches=L1d:48K/64/1,L1i:32K/64/1,L2:2048K/64/1,L3:266240K/64/0-1",
		})
		const want = `2 CPUs online (0-1), 1 package, 2 physical cores (no SMT), 1 L3 domain, 1 NUMA node; isolated none; nohz_full none; housekeeping 0-1; cache line 64 B; unknown: nohz_full`
		if got := topo.String(); got != want {
			t.Errorf("String:\n got %s\nwant %s", got, want)
		}
	})
}

// TestTopologyFSDefaults: trees that lack files, or whose files disagree,
// still give a consistent Topo, with what was defaulted listed in Unknown.
func TestTopologyFSDefaults(t *testing.T) {
	t.Run("bare_vm_defaults", func(t *testing.T) {
		// Only the online list: no topology, cache, node or isolation files.
		fsys := fstest.MapFS{"sys/devices/system/cpu/online": {Data: []byte("0-3\n")}}
		topo := mustTopo(t, fsys)
		checkSummary(t, topo, "0-3", "", "", 1, 4, 1, 1,
			[]string{"cache", "cache_line", "core", "die", "isolated", "l3", "nohz_full", "numa", "package"})
		checkLines(t, topo, []string{
			"0: pkg=0 die=0 core_id=-1 core=0 sib=0 l3=0/0-3 node=0 caches=",
			"1: pkg=0 die=0 core_id=-1 core=1 sib=1 l3=0/0-3 node=0 caches=",
			"2: pkg=0 die=0 core_id=-1 core=2 sib=2 l3=0/0-3 node=0 caches=",
			"3: pkg=0 die=0 core_id=-1 core=3 sib=3 l3=0/0-3 node=0 caches=",
		})
		if topo.CacheLine != 64 {
			t.Errorf("CacheLine %d, want the default 64", topo.CacheLine)
		}
	})

	t.Run("cpu_dirs_without_online_file", func(t *testing.T) {
		fsys := fstest.MapFS{
			"sys/devices/system/cpu/cpu0/topology/core_id":             {Data: []byte("0\n")},
			"sys/devices/system/cpu/cpu1/topology/core_id":             {Data: []byte("0\n")},
			"sys/devices/system/cpu/cpu2/topology/core_id":             {Data: []byte("1\n")},
			"sys/devices/system/cpu/cpu2/topology/physical_package_id": {Data: []byte("-1\n")},
			"sys/devices/system/cpu/cpufreq/policy0":                   {Data: []byte("x")},
			"sys/devices/system/cpu/cpuidle/state":                     {Data: []byte("x")},
			"sys/devices/system/cpu/cpu3/cache/index0/level":           {Data: []byte("2\n")},
			"sys/devices/system/node/node0/cpulist":                    {Data: []byte("0-1\n")},
			"sys/devices/system/cpu/nohz_full":                         {Data: []byte("(null)\n")},
		}
		topo := mustTopo(t, fsys)
		checkSummary(t, topo, "0-3", "", "", 1, 3, 1, 1,
			[]string{"cache", "cache_line", "core", "die", "isolated", "l3", "numa", "online", "package"})
		// cpu0 and cpu1 share core_id 0 in package 0: one core; cpu3 has no
		// core_id: its own core. cpu3's cache lists only an L2.
		checkLines(t, topo, []string{
			"0: pkg=0 die=0 core_id=0 core=0 sib=0-1 l3=0/0-3 node=0 caches=",
			"1: pkg=0 die=0 core_id=0 core=0 sib=0-1 l3=0/0-3 node=0 caches=",
			"2: pkg=0 die=0 core_id=1 core=1 sib=2 l3=0/0-3 node=0 caches=",
			"3: pkg=0 die=0 core_id=-1 core=2 sib=3 l3=0/0-3 node=0 caches=L2:0K/0/",
		})
		if topo.CacheLine != 64 {
			t.Errorf("CacheLine = %d, want the default 64", topo.CacheLine)
		}
	})

	t.Run("inconsistent_sibling_lists_are_joined", func(t *testing.T) {
		fsys := fstest.MapFS{
			"sys/devices/system/cpu/online":                                 {Data: []byte("0-3")},
			"sys/devices/system/cpu/cpu0/topology/thread_siblings_list":     {Data: []byte("0,2")},
			"sys/devices/system/cpu/cpu1/topology/thread_siblings_list":     {Data: []byte("1")},
			"sys/devices/system/cpu/cpu2/topology/thread_siblings_list":     {Data: []byte("2,3")},
			"sys/devices/system/cpu/cpu3/topology/thread_siblings_list":     {Data: []byte("3,9")}, // 9 offline
			"sys/devices/system/cpu/cpu0/cache/index3/level":                {Data: []byte("3")},
			"sys/devices/system/cpu/cpu0/cache/index3/shared_cpu_list":      {Data: []byte("0-1")},
			"sys/devices/system/cpu/cpu1/cache/index3/level":                {Data: []byte("3")},
			"sys/devices/system/cpu/cpu1/cache/index3/shared_cpu_list":      {Data: []byte("1")},
			"sys/devices/system/cpu/cpu2/cache/index3/level":                {Data: []byte("3")},
			"sys/devices/system/cpu/cpu2/cache/index3/shared_cpu_list":      {Data: []byte("2-3")},
			"sys/devices/system/cpu/cpu3/cache/index3/level":                {Data: []byte("3")},
			"sys/devices/system/cpu/cpu3/cache/index3/shared_cpu_list":      {Data: []byte("3")},
			"sys/devices/system/cpu/cpu0/cache/index10/level":               {Data: []byte("4")},
			"sys/devices/system/cpu/cpu0/cache/index10/shared_cpu_list":     {Data: []byte("0-3")},
			"sys/devices/system/cpu/cpu0/cache/index10/size":                {Data: []byte("1M")},
			"sys/devices/system/cpu/cpu0/cache/index10/type":                {Data: []byte("Unified")},
			"sys/devices/system/cpu/cpu0/cache/index10/coherency_line_size": {Data: []byte("64")},
			"sys/devices/system/node/node1/cpulist":                         {Data: []byte("0-3")},
		}
		topo := mustTopo(t, fsys)
		if got := fmt.Sprint(topo.CPUs[0].Siblings, topo.CPUs[3].Siblings, topo.CPUs[1].Siblings); got != "0,2-3 0,2-3 1" {
			t.Errorf("siblings %s, want 0,2-3 0,2-3 1", got)
		}
		if topo.CPUs[0].L3 != 0 || topo.CPUs[1].L3 != 0 || topo.CPUs[2].L3 != 1 || topo.CPUs[3].L3 != 1 {
			t.Errorf("L3 domains %v", []int{topo.CPUs[0].L3, topo.CPUs[1].L3, topo.CPUs[2].L3, topo.CPUs[3].L3})
		}
		if c := topo.CPUs[0].Caches; len(c) != 2 || c[1].Level != 4 || c[1].Size != 1<<20 {
			t.Errorf("caches sorted by index number: %+v", c)
		}
		if topo.CPUs[2].Node != 1 || topo.Nodes != 1 {
			t.Errorf("node %d nodes %d, want 1 1", topo.CPUs[2].Node, topo.Nodes)
		}
	})
}

func TestTopologyFSCorrupt(t *testing.T) {
	base := func() fstest.MapFS {
		return fstest.MapFS{
			"sys/devices/system/cpu/online":                            {Data: []byte("0-1\n")},
			"sys/devices/system/cpu/cpu0/cache/index0/level":           {Data: []byte("1\n")},
			"sys/devices/system/cpu/cpu0/cache/index0/shared_cpu_list": {Data: []byte("0\n")},
		}
	}
	cases := []struct {
		name, file, content string
		cpulist             bool // the error also wraps ErrCPUList
	}{
		{"online_garbage", "sys/devices/system/cpu/online", "0-x\n", true},
		{"online_empty", "sys/devices/system/cpu/online", "\n", false},
		{"isolated_garbage", "sys/devices/system/cpu/isolated", "banana", true},
		{"nohz_full_backwards", "sys/devices/system/cpu/nohz_full", "3-1", true},
		{"siblings_garbage", "sys/devices/system/cpu/cpu1/topology/core_cpus_list", "1,,2", true},
		{"thread_siblings_huge", "sys/devices/system/cpu/cpu1/topology/thread_siblings_list", "99999", true},
		{"package_garbage", "sys/devices/system/cpu/cpu0/topology/physical_package_id", "zero", false},
		{"die_garbage", "sys/devices/system/cpu/cpu0/topology/die_id", "1.5", false},
		{"core_id_garbage", "sys/devices/system/cpu/cpu1/topology/core_id", "0x10", false},
		{"cache_level_garbage", "sys/devices/system/cpu/cpu0/cache/index0/level", "L1", false},
		{"cache_size_garbage", "sys/devices/system/cpu/cpu0/cache/index0/size", "32KiB", false},
		{"cache_size_overflow", "sys/devices/system/cpu/cpu0/cache/index0/size", "99999999999G", false},
		{"cache_line_garbage", "sys/devices/system/cpu/cpu0/cache/index0/coherency_line_size", "sixty-four", false},
		{"cache_shared_garbage", "sys/devices/system/cpu/cpu0/cache/index0/shared_cpu_list", "-", true},
		{"node_garbage", "sys/devices/system/node/node0/cpulist", "0-1-2", true},
		{"file_too_long", "sys/devices/system/cpu/isolated", strings.Repeat("1,", maxFileLength), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fsys := base()
			fsys[tc.file] = &fstest.MapFile{Data: []byte(tc.content)}
			topo, err := TopologyFS(fsys)
			if err == nil {
				t.Fatalf("no error; topo %v", topo)
			}
			if !errors.Is(err, ErrTopology) {
				t.Errorf("error %v does not wrap ErrTopology", err)
			}
			if tc.cpulist && !errors.Is(err, ErrCPUList) {
				t.Errorf("error %v does not wrap ErrCPUList", err)
			}
			if !strings.Contains(err.Error(), tc.file) {
				t.Errorf("error %q does not name %s", err, tc.file)
			}
		})
	}
	t.Run("no_cpus_at_all", func(t *testing.T) {
		_, err := TopologyFS(fstest.MapFS{})
		if !errors.Is(err, ErrTopology) || !strings.Contains(err.Error(), "no online cpus") {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("nil_fs", func(t *testing.T) {
		if _, err := TopologyFS(nil); !errors.Is(err, ErrTopology) {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("unreadable", func(t *testing.T) {
		for _, name := range []string{
			"sys/devices/system/cpu/online",
			"sys/devices/system/cpu/cpu0/cache",
			"sys/devices/system/node",
		} {
			_, err := TopologyFS(failFS{base(), name})
			if !errors.Is(err, ErrTopology) || !errors.Is(err, errInjected) {
				t.Errorf("%s: err = %v", name, err)
			}
		}
	})
}

var errInjected = errors.New("injected failure")

// failFS fails every Open of one name, the way EACCES or EIO would.
type failFS struct {
	fstest.MapFS
	name string
}

func (f failFS) Open(name string) (fs.File, error) {
	if name == f.name {
		return nil, &fs.PathError{Op: "open", Path: name, Err: errInjected}
	}
	return f.MapFS.Open(name)
}

// ReadDir hides fstest.MapFS's own ReadDir, which would bypass Open.
func (f failFS) ReadDir(name string) ([]fs.DirEntry, error) {
	if name == f.name {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: errInjected}
	}
	return f.MapFS.ReadDir(name)
}

// readFailFS opens name but fails the Read.
type readFailFS struct {
	fstest.MapFS
	name string
}

type failingFile struct{ fs.File }

func (failingFile) Read([]byte) (int, error) { return 0, errInjected }

func (f readFailFS) Open(name string) (fs.File, error) {
	file, err := f.MapFS.Open(name)
	if err == nil && name == f.name {
		return failingFile{file}, nil
	}
	return file, err
}

func TestTopologyFSReadErrors(t *testing.T) {
	fsys := fstest.MapFS{
		"sys/devices/system/cpu/online":                  {Data: []byte("0\n")},
		"sys/devices/system/cpu/cpu0/topology/core_id":   {Data: []byte("0\n")},
		"sys/devices/system/cpu/cpu0/cache/index0/level": {Data: []byte("1\n")},
		"sys/devices/system/node/node0/cpulist":          {Data: []byte("0\n")},
	}
	for _, name := range []string{
		"sys/devices/system/cpu/online",
		"sys/devices/system/cpu/cpu0/topology/core_id",
		"sys/devices/system/cpu/cpu0/cache/index0/level",
		"sys/devices/system/node/node0/cpulist",
	} {
		_, err := TopologyFS(readFailFS{fsys, name})
		if !errors.Is(err, ErrTopology) || !errors.Is(err, errInjected) {
			t.Errorf("%s: err = %v", name, err)
		}
	}
}

func TestTopoLookups(t *testing.T) {
	topo := mustTopo(t, loadFixture(t, "intel-2s"))
	t.Run("CPU", func(t *testing.T) {
		c, err := topo.CPU(25)
		if err != nil || c.ID != 25 || c.Core != 9 {
			t.Errorf("CPU(25) = %+v, %v", c, err)
		}
		for _, bad := range []int{-1, MaxCPU, math.MaxInt} {
			if _, err := topo.CPU(bad); !errors.Is(err, ErrInvalidCPU) || !strings.Contains(err.Error(), fmt.Sprint(bad)) {
				t.Errorf("CPU(%d) err = %v", bad, err)
			}
		}
		if _, err := topo.CPU(32); !errors.Is(err, ErrUnknownCPU) || !strings.Contains(err.Error(), "cpu=32") {
			t.Errorf("CPU(32) err = %v", err)
		}
		var nilTopo *Topo
		if _, err := nilTopo.CPU(0); !errors.Is(err, ErrUnknownCPU) {
			t.Errorf("nil CPU(0) err = %v", err)
		}
	})
	t.Run("SameCore", func(t *testing.T) {
		for _, tc := range []struct {
			a, b int
			want bool
		}{{0, 16, true}, {16, 0, true}, {3, 3, true}, {0, 1, false}, {8, 24, true}, {0, 8, false}, {0, 99, false}, {-1, -1, false}} {
			if got := topo.SameCore(tc.a, tc.b); got != tc.want {
				t.Errorf("SameCore(%d, %d) = %v", tc.a, tc.b, got)
			}
		}
	})
	t.Run("SameL3", func(t *testing.T) {
		for _, tc := range []struct {
			a, b int
			want bool
		}{{0, 7, true}, {0, 23, true}, {0, 8, false}, {15, 31, true}, {7, 24, false}, {1, 40, false}} {
			if got := topo.SameL3(tc.a, tc.b); got != tc.want {
				t.Errorf("SameL3(%d, %d) = %v", tc.a, tc.b, got)
			}
		}
	})
	t.Run("IsIsolated", func(t *testing.T) {
		var got CPUSet
		for c := -1; c < 40; c++ {
			if topo.IsIsolated(c) {
				got = append(got, c)
			}
		}
		if got.String() != "2-5,18-21" {
			t.Errorf("isolated %s", got)
		}
		nohzOnly := *topo
		nohzOnly.Isolated = nil
		nohzOnly.NohzFull = CPUSet{7}
		if !nohzOnly.IsIsolated(7) || nohzOnly.IsIsolated(2) {
			t.Error("nohz_full CPUs count as isolated, only they")
		}
	})
	t.Run("nil_topo", func(t *testing.T) {
		var n *Topo
		if n.SameCore(0, 0) || n.SameL3(0, 0) || n.IsIsolated(0) || n.Housekeeping() != nil || n.String() != "affinity.Topo(nil)" {
			t.Error("nil Topo methods")
		}
	})
}

func TestDescribe(t *testing.T) {
	topo := mustTopo(t, loadFixture(t, "intel-2s"))
	const want2 = "cpu 2: package 0, core 2 (SMT siblings 2,18), L3 domain 0 (0-7,16-23), node 0, isolated (isolcpus, nohz_full)\n" +
		"cpu 3: package 0, core 3 (SMT siblings 3,19), L3 domain 0 (0-7,16-23), node 0, isolated (isolcpus, nohz_full)\n" +
		"together: distinct physical cores, one L3 domain, one NUMA node, 2 of 2 isolated"
	if got := topo.Describe(2, 3); got != want2 {
		t.Errorf("Describe(2, 3):\n%s\nwant\n%s", got, want2)
	}
	got := topo.Describe(1, 17, 9, 99)
	for _, s := range []string{
		"cpu 1: package 0, core 1 (SMT siblings 1,17), L3 domain 0 (0-7,16-23), node 0, not isolated",
		"cpu 99: not online",
		"together: SMT siblings share a core (1 and 17), L3 domains 0-1, NUMA nodes 0-1, 0 of 3 isolated",
	} {
		if !strings.Contains(got, s) {
			t.Errorf("Describe(1, 17, 9, 99) lacks %q:\n%s", s, got)
		}
	}
	if got := topo.Describe(5); strings.Contains(got, "together") {
		t.Errorf("Describe of one CPU has a summary: %s", got)
	}
	if got := topo.Describe(); got != "no cpus" {
		t.Errorf("Describe() = %q", got)
	}
	only := *topo
	only.Isolated, only.NohzFull = CPUSet{2}, CPUSet{3}
	if got := only.Describe(2, 3); !strings.Contains(got, "isolated (isolcpus)\n") || !strings.Contains(got, "isolated (nohz_full)\n") {
		t.Errorf("Describe with separate sets:\n%s", got)
	}
	const wantString = `32 CPUs online (0-31), 2 packages, 16 physical cores (2 threads each), 2 L3 domains, 2 NUMA nodes; isolated 2-5,18-21; nohz_full 2-5,18-21; housekeeping 0-1,6-17,22-31; cache line 64 B`
	if got := topo.String(); got != wantString {
		t.Errorf("String:\n got %s\nwant %s", got, wantString)
	}
	smt4 := mustTopo(t, fstest.MapFS{
		"sys/devices/system/cpu/online":                       {Data: []byte("0-3")},
		"sys/devices/system/cpu/cpu0/topology/core_cpus_list": {Data: []byte("0-3")},
	})
	if got := smt4.Describe(3, 1, 2, 3); !strings.Contains(got, "together: SMT siblings share a core (1, 2 and 3), one L3 domain") {
		t.Errorf("Describe on an SMT4 core:\n%s", got)
	}
	mixed := mustTopo(t, fstest.MapFS{
		"sys/devices/system/cpu/online":                             {Data: []byte("0-2")},
		"sys/devices/system/cpu/cpu0/topology/thread_siblings_list": {Data: []byte("0-1")},
		"sys/devices/system/cpu/cpu2/topology/thread_siblings_list": {Data: []byte("2")},
	})
	if got := mixed.String(); !strings.Contains(got, "2 physical cores (1 to 2 threads each)") ||
		!strings.Contains(got, "cache line 64 B; unknown: cache, cache_line,") {
		t.Errorf("String of a mixed host: %s", got)
	}
}

func TestIsolationFS(t *testing.T) {
	fsys := loadFixture(t, "intel-2s")
	iso, err := IsolatedFS(fsys)
	if err != nil || iso.String() != "2-5,18-21" {
		t.Errorf("IsolatedFS = %s, %v", iso, err)
	}
	nohz, err := NohzFullFS(fsys)
	if err != nil || nohz.String() != "2-5,18-21" {
		t.Errorf("NohzFullFS = %s, %v", nohz, err)
	}
	hk, err := HousekeepingFS(fsys)
	if err != nil || hk.String() != "0-1,6-17,22-31" {
		t.Errorf("HousekeepingFS = %s, %v", hk, err)
	}
	everything := fstest.MapFS{
		"sys/devices/system/cpu/online":    {Data: []byte("0-3\n")},
		"sys/devices/system/cpu/isolated":  {Data: []byte("0-1\n")},
		"sys/devices/system/cpu/nohz_full": {Data: []byte("2-3\n")},
	}
	if hk, err := HousekeepingFS(everything); err != nil || hk.String() != "0-3" {
		t.Errorf("HousekeepingFS with every CPU isolated = %s, %v; want all online", hk, err)
	}
	for _, name := range []string{"sys/devices/system/cpu/online", "sys/devices/system/cpu/isolated", "sys/devices/system/cpu/nohz_full"} {
		bad := fstest.MapFS{}
		maps := map[string]string{"sys/devices/system/cpu/online": "0-3", "sys/devices/system/cpu/isolated": "1", "sys/devices/system/cpu/nohz_full": "1"}
		for n, c := range maps {
			bad[n] = &fstest.MapFile{Data: []byte(c)}
		}
		bad[name] = &fstest.MapFile{Data: []byte("garbage")}
		if _, err := HousekeepingFS(bad); !errors.Is(err, ErrCPUList) || !strings.Contains(err.Error(), name) {
			t.Errorf("garbage in %s: err = %v", name, err)
		}
	}
	if _, err := HousekeepingFS(failFS{fstest.MapFS{}, "sys/devices/system/cpu"}); !errors.Is(err, errInjected) {
		t.Errorf("unreadable cpu dir: err = %v", err)
	}
}

func TestLiveHost(t *testing.T) {
	topo, err := Topology()
	if err != nil {
		t.Fatal(err)
	}
	t.Log(topo)
	allowed, err := Allowed()
	if err != nil {
		t.Fatal(err)
	}
	if len(allowed.Minus(topo.Online)) != 0 {
		t.Errorf("allowed %s not within online %s", allowed, topo.Online)
	}
	iso, err := Isolated()
	if err != nil || !slices.Equal(iso.Intersect(topo.Online), topo.Isolated) {
		t.Errorf("Isolated() = %s, %v; Topo has %s", iso, err, topo.Isolated)
	}
	nohz, err := NohzFull()
	if err != nil || !slices.Equal(nohz.Intersect(topo.Online), topo.NohzFull) {
		t.Errorf("NohzFull() = %s, %v; Topo has %s", nohz, err, topo.NohzFull)
	}
	hk, err := Housekeeping()
	if err != nil || !slices.Equal(hk, topo.Housekeeping()) {
		t.Errorf("Housekeeping() = %s, %v; Topo says %s", hk, err, topo.Housekeeping())
	}
}

// FuzzTopologyFS feeds arbitrary content to the files TopologyFS parses and
// checks that it returns an error wrapping ErrTopology or a consistent Topo
// that Plan, String and Describe handle, never a panic.
func FuzzTopologyFS(f *testing.F) {
	f.Add("0-3", "0,2", "0-3", "32K", "0-1", "3", "1")
	f.Add("0-7:2/4", "1-3", "5", "1M", "(null)", "", "-1")
	f.Add("0,1", "0-1:1/2", "0-8191", "x", "0", "0-1", "0")
	f.Fuzz(func(t *testing.T, online, siblings, shared, size, node, isolated, pkg string) {
		file := func(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s)} }
		fsys := fstest.MapFS{
			"sys/devices/system/cpu/online":                             file(online),
			"sys/devices/system/cpu/isolated":                           file(isolated),
			"sys/devices/system/cpu/cpu0/topology/core_cpus_list":       file(siblings),
			"sys/devices/system/cpu/cpu1/topology/thread_siblings_list": file(siblings),
			"sys/devices/system/cpu/cpu1/topology/physical_package_id":  file(pkg),
			"sys/devices/system/cpu/cpu0/cache/index0/level":            file("3"),
			"sys/devices/system/cpu/cpu0/cache/index0/shared_cpu_list":  file(shared),
			"sys/devices/system/cpu/cpu0/cache/index0/size":             file(size),
			"sys/devices/system/node/node0/cpulist":                     file(node),
		}
		topo, err := TopologyFS(fsys)
		if err != nil {
			if !errors.Is(err, ErrTopology) {
				t.Fatalf("error %v does not wrap ErrTopology", err)
			}
			return
		}
		for _, c := range topo.CPUs {
			if !c.Siblings.Contains(c.ID) || !c.L3CPUs.Contains(c.ID) || c.Core >= topo.Cores || c.L3 >= topo.L3Domains {
				t.Fatalf("inconsistent cpu %+v in %d cores, %d L3 domains", c, topo.Cores, topo.L3Domains)
			}
		}
		for _, k := range []int{1, len(topo.Online)} {
			p, err := topo.Plan(topo.Online, k)
			if err != nil || len(p.CPUs) != k || !slices.IsSorted(p.CPUs) {
				t.Fatalf("Plan(%d) = %v, %v", k, p, err)
			}
		}
		_ = topo.String()
		_ = topo.Describe(topo.Online...)
	})
}
