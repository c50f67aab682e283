package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
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

// runFloor runs the C floor program for one round on the same CPUs and
// reads its JSON line (the schema of pingpong -json).
func runFloor(c *config, n int) (sample, error) {
	args := []string{"-n", strconv.Itoa(max(n, 10000)), "-cpus", fmt.Sprintf("%d,%d", c.CPUs[0], c.CPUs[1])}
	if c.Mode == "throughput" {
		args = append(args, "-batch", strconv.Itoa(c.Batch), "-slots", strconv.Itoa(c.Slots))
	}
	var out bytes.Buffer
	cmd := exec.Command(floorProgram(c), args...)
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
