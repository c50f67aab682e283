package affinity_test

import (
	"fmt"
	"log"
	"runtime"
	"testing/fstest"

	"github.com/spinwire/spinwire/affinity"
)

// Pin the calling goroutine to one CPU for a measurement, then put the
// thread back. A spinner would instead pin once and never call undo.
func ExamplePin() {
	allowed, err := affinity.Allowed()
	if err != nil {
		log.Fatal(err)
	}
	cpu := allowed[len(allowed)-1]
	undo, err := affinity.Pin(cpu)
	if err != nil {
		log.Fatal(err)
	}
	defer undo()
	fmt.Println("running on the chosen CPU:", affinity.CurrentCPU() == cpu)
	// Output: running on the chosen CPU: true
}

// A refused Pin leaves the goroutine as it was and says why.
func ExamplePin_refused() {
	_, err := affinity.Pin(-1)
	fmt.Println(err)
	// Output: affinity: invalid cpu: cpu=-1 (want 0…8191)
}

// Plan CPUs for spinners on this host, pin one goroutine per CPU, and report
// the placement. Each spinner goroutine keeps its thread locked for good.
func ExamplePlan() {
	plan, err := affinity.Plan(1)
	if err != nil {
		log.Fatal(err)
	}
	for _, w := range plan.Warnings {
		log.Println("affinity:", w) // e.g. no CPUs are isolated
	}
	started := make(chan error)
	for _, cpu := range plan.CPUs {
		go func() {
			_, err := affinity.Pin(cpu) // never undone: this thread spins for good
			started <- err
			if err != nil {
				return
			}
			// ... the spin loop would run here; this example just exits,
			// and the runtime discards the locked thread.
		}()
	}
	for range plan.CPUs {
		if err := <-started; err != nil {
			log.Fatal(err)
		}
	}
	fmt.Println("spinners pinned:", len(plan.CPUs))
	// Output: spinners pinned: 1
}

// Topo.Plan is a pure function of a topology and an allowed set, so a plan
// can be worked out for another machine. Here: 4 cores × 2 threads, one L3,
// with isolcpus=2-3,6-7.
func ExampleTopo_Plan() {
	file := func(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s + "\n")} }
	fsys := fstest.MapFS{
		"sys/devices/system/cpu/online":   file("0-7"),
		"sys/devices/system/cpu/isolated": file("2-3,6-7"),
	}
	for cpu := range 8 {
		dir := fmt.Sprintf("sys/devices/system/cpu/cpu%d/", cpu)
		fsys[dir+"topology/core_cpus_list"] = file(fmt.Sprintf("%d,%d", cpu%4, cpu%4+4))
		fsys[dir+"cache/index3/level"] = file("3")
		fsys[dir+"cache/index3/shared_cpu_list"] = file("0-7")
	}
	topo, err := affinity.TopologyFS(fsys)
	if err != nil {
		log.Fatal(err)
	}
	for _, k := range []int{2, 3} {
		plan, err := topo.Plan(topo.Online, k)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(k, "spinners:", plan.CPUs, plan.Warnings)
	}
	fmt.Println(topo.Describe(2, 3))
	// Output:
	// 2 spinners: [2 3] []
	// 3 spinners: [1 2 3] [only 2 of 3 planned CPUs are isolated (isolated: 2-3,6-7; of those allowed: 2-3,6-7)]
	// cpu 2: package 0, core 2 (SMT siblings 2,6), L3 domain 0 (0-7), node 0, isolated (isolcpus)
	// cpu 3: package 0, core 3 (SMT siblings 3,7), L3 domain 0 (0-7), node 0, isolated (isolcpus)
	// together: distinct physical cores, one L3 domain, one NUMA node, 2 of 2 isolated
}

// Print what the host offers, e.g. for a benchmark report.
func ExampleTopology() {
	topo, err := affinity.Topology()
	if err != nil {
		log.Fatal(err)
	}
	hk := topo.Housekeeping()
	fmt.Println(len(topo.CPUs) >= runtime.NumCPU(), len(hk) > 0)
	// Output: true true
}
