// Package affinity pins goroutines to CPUs and describes the host's CPU
// topology so that spinners can be placed well.
//
// Pin locks the calling goroutine to its OS thread and sets that thread's
// affinity mask with sched_setaffinity; Topology reads
// /sys/devices/system/cpu (through an fs.FS, so tests run against fixture
// trees) plus cpuid; Plan chooses CPUs for k spinners: isolated CPUs first,
// one L3 domain, distinct physical cores, never CPU 0 when others exist.
package affinity
