package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"

	"github.com/spinwire/spinwire/spin"
)

// floorProgram returns the floor program for the run's mode, if -floor
// names a folder that has it.
func floorProgram(c *config) string {
	if c.FloorDir == "" || c.Mode == "rate" {
		return ""
	}
	p := filepath.Join(c.FloorDir, floorName(c))
	if fi, err := os.Stat(p); err != nil || fi.IsDir() {
		return ""
	}
	return p
}

// floorName is the floor program for the run's mode.
func floorName(c *config) string {
	if c.Mode == "throughput" {
		return "floor_stream"
	}
	return "floor_pingpong"
}

// floorProto is the floor_stream protocol that does the work of the run's
// spinwire stream: inslot for a Ring under InSlot, cursors for a Ring
// under Cursors and for a Log (whose producer also publishes a tail).
func floorProto(c *config) string {
	if ringSize(c) && protocol(c) == spin.InSlot {
		return "inslot"
	}
	return "cursors"
}

// floorSize is the message size the floor moves: -size, rounded up to a
// multiple of 8 (the floor's word).
func floorSize(c *config) int { return (c.Size + 7) &^ 7 }

// floorPath says what the floor program moved, for the report.
func floorPath(c *config) string {
	switch {
	case c.Mode == "throughput":
		return fmt.Sprintf("C program (floor/): %d-byte messages copied in and out through a ring, %s protocol, memcpy", floorSize(c), floorProto(c))
	case floorSize(c) == 8:
		return fmt.Sprintf("C program (floor/): a counter through two rings of %d slots, 8 bytes", c.Slots)
	}
	demoted := ""
	if c.Demote {
		demoted = ", each slot demoted after its publish (CLDEMOTE)"
	}
	return fmt.Sprintf("C program (floor/): a %d-byte message (payload + 8-byte sequence) copied into ping, echoed into pong, copied out, through two rings of %d slots (-slots)%s; memcpy",
		floorSize(c), c.Slots, demoted)
}

// runFloor runs the C floor program for one round on the same CPUs, with
// the run's message size, and reads its JSON line (the schema of
// pingpong -json).
func runFloor(c *config, n int) (sample, error) {
	var out bytes.Buffer
	cmd := exec.Command(floorProgram(c), floorArgs(c, n)...)
	cmd.Stdout, cmd.Stderr = &out, os.Stderr
	if err := cmd.Run(); err != nil {
		return sample{}, fmt.Errorf("%s: %w", cmd.Path, err)
	}
	var r result
	if err := json.Unmarshal(bytes.TrimSpace(out.Bytes()), &r); err != nil {
		return sample{}, fmt.Errorf("%s printed %q: %w", cmd.Path, out.String(), err)
	}
	return sample{n: r.N, floor: &r}, nil
}

// floorArgs are the floor program's arguments for a round of n messages:
// the run's CPUs, size, slots and (streams) batch and protocol, and
// -demote where spinwire's producers demote.
func floorArgs(c *config, n int) []string {
	args := []string{"-n", strconv.Itoa(max(n, 10000)), "-cpus", fmt.Sprintf("%d,%d", c.CPUs[0], c.CPUs[1]),
		"-size", strconv.Itoa(floorSize(c)), "-slots", strconv.Itoa(c.Slots)}
	if c.Mode == "throughput" {
		args = append(args, "-batch", strconv.Itoa(c.Batch), "-proto", floorProto(c))
	}
	if c.Demote {
		args = append(args, "-demote")
	}
	return args
}
