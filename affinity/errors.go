package affinity

import "errors"

// Sentinel errors. Every error this package returns for a bad argument or a
// bad input file wraps one of these (test with errors.Is) together with the
// offending value: fmt.Errorf("%w: cpu=%d", ErrInvalidCPU, cpu).
var (
	// ErrInvalidCPU reports a CPU number outside [0, MaxCPU).
	ErrInvalidCPU = errors.New("affinity: invalid cpu")

	// ErrCPUNotAllowed reports a valid CPU number that is not in the calling
	// thread's affinity mask (taskset, cgroup cpuset, or an earlier Pin), or
	// not online.
	ErrCPUNotAllowed = errors.New("affinity: cpu not allowed")

	// ErrUnknownCPU reports a CPU that a Topo does not describe (offline or
	// absent on that host).
	ErrUnknownCPU = errors.New("affinity: cpu not in topology")

	// ErrInvalidCount reports a spinner count for Plan that is ≤ 0 or larger
	// than the number of allowed online CPUs.
	ErrInvalidCount = errors.New("affinity: invalid cpu count")

	// ErrTopology reports a sysfs or procfs file whose content cannot be
	// parsed (the error names the file and quotes the content), a tree with
	// no online CPUs, or a nil *Topo.
	ErrTopology = errors.New("affinity: bad topology")
)
