package tuning

import (
	"fmt"
	"io/fs"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/spinwire/spinwire/affinity"
)

func TestParseCmdline(t *testing.T) {
	cases := []struct {
		in   string
		want map[string]string
		raw  string
		init bool
	}{
		{"ro quiet\n", map[string]string{"ro": "", "quiet": ""}, "ro quiet", false},
		{"nohz-full=2-7\tisolcpus=managed_irq,2-7", map[string]string{"nohz_full": "2-7", "isolcpus": "managed_irq,2-7"}, "nohz-full=2-7\tisolcpus=managed_irq,2-7", false},
		{`dyndbg="file x.c +p" a=1 a=2`, map[string]string{"dyndbg": "file x.c +p", "a": "2"}, `dyndbg="file x.c +p" a=1 a=2`, false},
		{"a=1 -- isolcpus=3 b", map[string]string{"a": "1"}, "a=1", true},
		{"a=1 --", map[string]string{"a": "1"}, "a=1", false},
		{`a="--" b`, map[string]string{"a": "--", "b": ""}, `a="--" b`, false},
		{`"--" b`, map[string]string{"__": "", "b": ""}, `"--" b`, false},
		{"", map[string]string{}, "", false},
	}
	for _, tc := range cases {
		c := parseCmdline(tc.in)
		if fmt.Sprint(c.params) != fmt.Sprint(tc.want) || c.raw != tc.raw || c.init != tc.init {
			t.Errorf("parseCmdline(%q) = %v raw %q init %v; want %v raw %q init %v", tc.in, c.params, c.raw, c.init, tc.want, tc.raw, tc.init)
		}
	}
	var nilC *cmdline
	if _, ok := nilC.get("x"); ok {
		t.Error("nil cmdline has a parameter")
	}
	c := parseCmdline("a b=")
	if c.param("a") != "a" || c.param("b") != "b" || c.param("c") != "no c= on the command line" {
		t.Errorf("param: %q %q %q", c.param("a"), c.param("b"), c.param("c"))
	}
}

func TestIsolcpusFlags(t *testing.T) {
	for in, want := range map[string]string{
		"2-7":                      "[] 2-7",
		"managed_irq,domain,2-7,9": "[managed_irq domain] 2-7,9",
		"nohz,domain":              "[nohz domain] ",
		"":                         "[] ",
	} {
		f, l := isolcpusFlags(in)
		if got := fmt.Sprint(f, " ", l); got != want {
			t.Errorf("isolcpusFlags(%q) = %q, want %q", in, got, want)
		}
	}
	if got := isolcpusParam(parseCmdline("isolcpus=nohz,5"), affinity.CPUSet{2}); got != "isolcpus=managed_irq,domain,nohz,2,5" {
		t.Errorf("isolcpusParam = %q", got)
	}
	if got := isolcpusParam(nil, affinity.CPUSet{2, 3}); got != "isolcpus=managed_irq,domain,2-3" {
		t.Errorf("isolcpusParam(nil) = %q", got)
	}
}

func TestMask(t *testing.T) {
	for in, want := range map[string]string{
		"3":                 "0-1",
		"ffffffff,00000003": "0-1,32-63",
		"00000000,80000000": "31",
		"0":                 "",
	} {
		set, err := parseMask(in)
		if err != nil || set.String() != want {
			t.Errorf("parseMask(%q) = %v, %v; want %s", in, set, err, want)
		}
	}
	for _, bad := range []string{"", "xyz", "123456789", "1,,2", strings.Repeat("1,", 300) + "1"} {
		if _, err := parseMask(bad); err == nil {
			t.Errorf("parseMask(%q) accepted", bad)
		}
	}
	for _, s := range []string{"0", "0-1", "0-1,8-17,24-31", "33", "0,64"} {
		set, _ := affinity.ParseList(s)
		back, err := parseMask(formatMask(set))
		if err != nil || back.String() != s {
			t.Errorf("round trip %s → %s → %v %v", s, formatMask(set), back, err)
		}
	}
	if formatMask(affinity.CPUSet{0, 33}) != "2,00000001" { // the kernel parses any width
		t.Errorf("formatMask = %q", formatMask(affinity.CPUSet{0, 33}))
	}
}

func TestParseInterrupts(t *testing.T) {
	m := parseInterrupts(mfs("proc/interrupts", "           CPU0       CPU2\n"+
		"  0:         40          0   IO-APIC   2-edge      timer\n"+
		" 16:          1          2   IO-APIC  16-fasteoi   ehci_hcd:usb1, uhci_hcd:usb2\n"+
		" 17:          3          4   IO-APIC-level  snd\n"+
		" 18:          5\n"+
		"bad\n"+
		" 19:          1          1   weird\n"+
		" 20:          1          1   chip 5-edge\n"))
	for irq, want := range map[int]string{0: "timer 40 0", 16: "ehci_hcd:usb1, uhci_hcd:usb2 1 2", 17: "snd 3 4", 18: " 5 0", 19: "weird 1 1", 20: "5-edge 1 1"} {
		got := fmt.Sprint(m[irq].name, " ", m[irq].counts[0], " ", m[irq].counts[2])
		if got != want {
			t.Errorf("IRQ %d: %q, want %q", irq, got, want)
		}
	}
	if len(parseInterrupts(fstest.MapFS{})) != 0 {
		t.Error("missing /proc/interrupts gave IRQs")
	}
}

func TestReadErrors(t *testing.T) {
	fsys := fstest.MapFS{"a/b": &fstest.MapFile{Data: []byte("1")}}
	if _, err := readString(fsys, "a"); err == nil || notExist(err) {
		t.Errorf("reading a directory: %v", err)
	}
	if _, err := readString(fsys, "nope"); !notExist(err) || err.Error() != "/nope not found" {
		t.Errorf("missing file: %v", err)
	}
	perm := &fileError{"x", fs.ErrPermission}
	if perm.Error() != "/x not readable (permission denied)" {
		t.Errorf("permission: %q", perm.Error())
	}
	long := garbage("p", strings.Repeat("z", 100))
	if !strings.Contains(long.Error(), "…") || len(long.Error()) > 100 {
		t.Errorf("garbage not truncated: %q", long.Error())
	}
	if _, err := readInt(fsys, "nope"); err == nil {
		t.Error("readInt of a missing file")
	}
	if _, err := readList(fsys, "nope"); err == nil {
		t.Error("readList of a missing file")
	}
}

// FuzzCheck writes the same fuzzed bytes into every file Check reads: it
// must never panic, and must return each finding ID at most once.
func FuzzCheck(f *testing.F) {
	for _, s := range []string{"", "0-3", "(null)", "[always]", "-1", "ffffffff", "2-1", "0-8191", "1:2/3", "CPU0 CPU1\n 1: 2 3 x-edge y", "\x00\xff"} {
		f.Add(s)
	}
	paths := []string{
		cmdlinePath, onlinePath, isolatedPath, nohzFullPath, cgroupIsolPath, idleDriverPath, thpPath,
		clocksourcePath, clocksAvailPath, cpuinfoPath, irqDefaultPath, interruptsPath,
		"proc/irq/5/smp_affinity_list", "proc/irq/5/effective_affinity_list",
		sysctlDir + "/watchdog", sysctlDir + "/soft_watchdog", sysctlDir + "/nmi_watchdog", sysctlDir + "/watchdog_cpumask",
		sysctlDir + "/numa_balancing", sysctlDir + "/sched_rt_runtime_us",
		cpuPath(1, "topology/thread_siblings_list"), cpuPath(1, "cpufreq/scaling_governor"),
		cpuPath(1, "cpuidle/state1/name"), cpuPath(1, "cpuidle/state1/latency"), cpuPath(1, "cpuidle/state1/disable"),
	}
	f.Fuzz(func(t *testing.T, s string) {
		fsys := fstest.MapFS{}
		for _, p := range paths {
			fsys[p] = &fstest.MapFile{Data: []byte(s)}
		}
		g := goodGo
		for _, sp := range [][]int{nil, {1}} {
			byID(t, Check(Options{FS: fsys, SpinnerCPUs: sp, Runtime: &g, IncludeOK: true}))
		}
		spinnerWarnings(fsys, 1, []int{0, 1, 2})
	})
}
