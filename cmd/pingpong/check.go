package main

import (
	"fmt"
	"io"

	"github.com/spinwire/spinwire/affinity"
	"github.com/spinwire/spinwire/tuning"
)

// check is -check: it prints the host's tuning findings for the two CPUs a
// run would use (-cpus, else affinity.Plan(2)), each with its fix — a table,
// or with -json one object per finding — and the host-wide warnings a run
// would print, on stderr. It measures nothing. It runs with the Go runtime
// settings a run uses (GC off, GOMAXPROCS, with -agent dedicated
// asyncpreemptoff), so the findings about them judge pingpong's own.
// Findings are not errors: it fails only when the checks cannot run.
func check(c *config, stdout, stderr io.Writer) error {
	setupRuntime(c)
	allowed, err := affinity.Allowed()
	if err != nil {
		return err
	}
	warnings, err := chooseCPUs(c, allowed)
	if err != nil {
		return err
	}
	findings := tuning.Check(tuning.Options{SpinnerCPUs: c.CPUs[:]})
	write := tuning.WriteTable
	if c.JSON {
		write = tuning.WriteJSON
	}
	if err := write(stdout, findings); err != nil {
		return err
	}
	topo, _ := affinity.Topology() // without it, hostWarnings judges less
	notes := notesTo(c, stderr)
	for _, w := range append(warnings, hostWarnings(c, topo, allowed)...) {
		fmt.Fprintln(notes, "warning:", w)
	}
	return nil
}
