// Package affinity pins goroutines to CPUs and describes the host's CPU
// topology so that spinners can be placed well.
//
// Pin locks the calling goroutine to its OS thread and sets that thread's
// affinity mask with sched_setaffinity (two syscalls); it returns an undo
// for tests and short-lived uses, while a spinner pins once and never
// unlocks. Allowed and CurrentCPU report the thread's mask and its CPU.
//
// Topology reads sysfs — /sys/devices/system/cpu and
// /sys/devices/system/node, nothing else — into a Topo: for every online
// CPU its package, physical core (unique across packages), SMT siblings,
// caches, L3 domain and NUMA node, and the isolated (isolcpus=) and
// nohz_full CPUs. It executes no CPUID and says nothing about the
// processor's model or features: package tuning describes those. Everything
// is read through an fs.FS rooted at "/" (TopologyFS, IsolatedFS,
// NohzFullFS, HousekeepingFS), so tests run against fixture trees; missing
// files degrade to documented defaults and are listed in Topo.Unknown,
// unparsable ones are errors.
//
// Plan chooses CPUs for k spinners among the allowed ones: never CPU 0 while
// others suffice, distinct physical cores, isolated CPUs first, one L3
// domain; what it cannot keep it reports in PlanResult.Warnings. Topo.Plan
// is the same choice as a pure function of a Topo and an allowed set.
//
//	func init() { runtime.LockOSThread() } // keep spinners off the main thread
//
//	plan, err := affinity.Plan(2)
//	if err != nil { … }
//	for _, w := range plan.Warnings { log.Print(w) }
//	for _, cpu := range plan.CPUs {
//		go func() {
//			if _, err := affinity.Pin(cpu); err != nil { … } // never undone
//			spin()
//		}()
//	}
//
// Errors for bad arguments and bad input files wrap the package's sentinels
// (ErrInvalidCPU, ErrCPUNotAllowed, ErrUnknownCPU, ErrInvalidCount,
// ErrTopology, ErrCPUList) and name the offending value; nothing in this
// package panics on input.
//
// Pin, Allowed and CurrentCPU are Linux-only; elsewhere they report
// errors.ErrUnsupported (CurrentCPU returns -1). The sysfs readers and Plan
// work on any platform given a tree.
package affinity
