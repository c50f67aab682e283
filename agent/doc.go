// Package agent runs a duty function in a loop on a locked OS thread pinned
// to one CPU: the consumer side of every spinwire ring and link server.
//
//	a := &agent.Agent{Name: "consumer"}
//	err := a.Run(ctx, cpu, spin.BusySpin{}, func() int { return ring.Poll(0, handle) })
//
// Two modes, both measured by pingpong:
//
//   - Preemptible (the default) calls a preemption point at least every
//     PreemptEvery iterations, so the garbage collector and everything else
//     that stops the world keep working.
//   - Dedicated runs without preemption points; it refuses to start unless
//     the process was started with GODEBUG=asyncpreemptoff=1, the GC is off
//     and GOMAXPROCS leaves two Ps beyond the spinners. Quiesce parks the
//     dedicated agents around anything that must stop the world.
//
// docs/go-runtime.md explains what the Go runtime does to a spinning thread
// and why the modes look the way they do. The first pinned Run of a process
// logs one line when the CPU is not isolated or shares a physical core with
// another agent (tuning.Check gives the fix).
package agent
