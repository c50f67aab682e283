package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spinwire/spinwire/affinity"
	"github.com/spinwire/spinwire/tuning"
	"golang.org/x/sys/unix"
)

// hostLines describe the machine for the report's header, ahead of where
// the two peers sit (Topo.Describe): the processor as CPUID reports it
// (tuning.HostCPU: model, hypervisor, caches, invariant TSC and the
// features asm dispatches on) and the topology sysfs gives (Topo.String),
// when there is one.
func hostLines(cpu tuning.CPU, topo *affinity.Topo) []string {
	lines := []string{"cpu: " + cpu.String()}
	if topo != nil {
		lines = append(lines, "topology: "+topo.String())
	}
	return lines
}

// hostWarnings are the host-wide reasons to doubt a run's figures: the two
// peers on one CPU or one physical core, no CPU to spare for everything
// else, CPUs already busy with other work.
func hostWarnings(c *config, topo *affinity.Topo, allowed affinity.CPUSet) []string {
	var w []string
	a, b := c.CPUs[0], c.CPUs[1]
	switch {
	case a == b:
		w = append(w, fmt.Sprintf("both peers on CPU %d: spinning transports time-slice one CPU instead of measuring the interconnect", a))
	case topo != nil && topo.SameCore(a, b):
		w = append(w, fmt.Sprintf("CPUs %d and %d are SMT siblings of one physical core: they share its execution units and L1/L2, so figures are not those of two cores", a, b))
	}
	if len(allowed) < 2 {
		w = append(w, fmt.Sprintf("fewer than two CPUs are free for the two peers (allowed: %s)", allowed))
	} else if len(allowed) == 2 {
		w = append(w, "no CPU beyond the two peers' is free: the kernel, the Go runtime's own threads and everything else run on the spinners' CPUs and preempt them (the tails show it)")
	}
	if busy, err := cpuBusy([]int{a, b}, 100*time.Millisecond); err == nil {
		for i, cpu := range []int{a, b} {
			if busy[i] > 0.10 {
				w = append(w, fmt.Sprintf("CPU %d was %.0f%% busy with other work just before the run: expect noise", cpu, 100*busy[i]))
			}
		}
	}
	return w
}

// cpuBusy samples /proc/stat twice, d apart, and returns the share of
// that time each CPU spent not idle (idle and iowait count as idle).
func cpuBusy(cpus []int, d time.Duration) ([]float64, error) {
	read := func() (map[int][2]uint64, error) {
		f, err := os.Open("/proc/stat")
		if err != nil {
			return nil, err
		}
		defer f.Close()
		return parseStat(f)
	}
	t0, err := read()
	if err != nil {
		return nil, err
	}
	time.Sleep(d)
	t1, err := read()
	if err != nil {
		return nil, err
	}
	out := make([]float64, len(cpus))
	for i, cpu := range cpus {
		a, b := t0[cpu], t1[cpu]
		total, idle := b[0]-a[0], b[1]-a[1]
		if total > 0 && b[0] >= a[0] && b[1] >= a[1] {
			out[i] = float64(total-idle) / float64(total)
		}
	}
	return out, nil
}

// parseStat reads the per-CPU lines of /proc/stat: for each CPU, its total
// jiffies and its idle (idle + iowait) jiffies.
func parseStat(r io.Reader) (map[int][2]uint64, error) {
	out := map[int][2]uint64{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 6 || !strings.HasPrefix(f[0], "cpu") || f[0] == "cpu" {
			continue
		}
		cpu, err := strconv.Atoi(f[0][3:])
		if err != nil {
			continue
		}
		var total, idle uint64
		for i, s := range f[1:] {
			v, err := strconv.ParseUint(s, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("/proc/stat: %q: %w", f[0], err)
			}
			// guest and guest_nice (fields 9, 10) are already in user and nice.
			if i < 8 {
				total += v
			}
			if i == 3 || i == 4 {
				idle += v
			}
		}
		out[cpu] = [2]uint64{total, idle}
	}
	return out, sc.Err()
}

// isTerminal reports whether w is a terminal (for the progress line).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}
