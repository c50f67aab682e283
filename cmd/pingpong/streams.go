package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spinwire/spinwire/tuning"
)

// streamRow is one row of streams mode: a stream of one size, protocol
// and batch, measured -passes times against its floor.
type streamRow struct {
	Mode       string    `json:"mode"` // "streams"
	Size       int       `json:"size"`
	Protocol   string    `json:"protocol"`
	Batch      int       `json:"batch"`
	Ratio      float64   `json:"ratio"`              // median over the passes of spinwire's msg/s ÷ the floor's
	Ratios     []float64 `json:"ratios"`             // each pass's, in pass order
	MsgsPerSec float64   `json:"msgs_per_sec"`       // spinwire, median over the passes
	FloorPerS  float64   `json:"floor_msgs_per_sec"` // the floor, median over the passes
	Rates      []float64 `json:"rates"`              // spinwire's msg/s, each pass's
	Floors     []float64 `json:"floor_rates"`        // the floor's msg/s, each pass's: where it jumped
	Warnings   []string  `json:"warnings,omitempty"` // what made a pass's figures doubtful (the runs' warnings, once each)
}

// streamRows are the rows of streams mode, in table order: per size the
// Ring under InSlot and Cursors, the Log, and at 64 bytes the Log through
// spin.Records (pingpong's records protocol runs only at 64 bytes), each
// at batch 1 and 64.
func streamRows(sizes []int) []*streamRow {
	var rows []*streamRow
	for _, size := range sizes {
		protos := []string{"inslot", "cursors", "log"}
		if size == 64 {
			protos = append(protos, "records")
		}
		for _, p := range protos {
			for _, b := range []int{1, 64} {
				rows = append(rows, &streamRow{Mode: "streams", Size: size, Protocol: p, Batch: b})
			}
		}
	}
	return rows
}

// streamN is the messages of one row's run: 1.28 G bytes' worth (20 M
// of 64 bytes), at least 1 M.
func streamN(size int) int { return max(1_000_000, 1_280_000_000/size) }

// args is the throughput run of row r that c asks for: spinwire and the
// floor in -rounds interleaved rounds, -count messages (else streamN), on
// c's CPUs, with c's agent mode.
func (r *streamRow) args(c *config) []string {
	a := []string{"-mode", "throughput", "-transport", "spinwire", "-floor", c.FloorDir,
		"-size", strconv.Itoa(r.Size), "-protocol", r.Protocol, "-batch", strconv.Itoa(r.Batch),
		"-rounds", strconv.Itoa(c.Rounds), "-agent", c.Agent, "-timeout", c.Timeout.String(), "-json", "-quiet"}
	if c.cpusGiven {
		a = append(a, "-cpus", fmt.Sprintf("%d,%d", c.CPUs[0], c.CPUs[1]))
	}
	n := c.Count
	if n == 0 {
		n = streamN(r.Size)
	}
	return append(a, "-n", strconv.Itoa(n))
}

// measureStreams runs -mode streams: every row once per pass, a pass at a
// time, each row a throughput run (measure) of its own.
func measureStreams(c *config, stdout, stderr io.Writer) error {
	notes := notesTo(c, stderr)
	if dir, err := filepath.Abs(c.FloorDir); err == nil {
		c.FloorDir = dir
	}
	rows := streamRows(c.Sizes)
	runs := make([]*config, len(rows))
	for i, r := range rows { // every row's flags checked before the first run
		rc, err := parseFlags(r.args(c), io.Discard)
		if err != nil {
			return usageError{fmt.Errorf("%d bytes, %s: %w", r.Size, r.Protocol, err)}
		}
		if floorProgram(rc) == "" {
			return usageError{fmt.Errorf("-floor %s: no %s there (make floor builds it into build/)", c.FloorDir, floorName(rc))}
		}
		runs[i] = rc
	}
	for pass := range c.Passes {
		for i, r := range rows {
			fmt.Fprintf(notes, "pass %d of %d: %d bytes, %s, batch %d\n", pass+1, c.Passes, r.Size, r.Protocol, r.Batch)
			if err := r.run(runs[i]); err != nil {
				return fmt.Errorf("pass %d, %d bytes, %s, batch %d: %w", pass+1, r.Size, r.Protocol, r.Batch, err)
			}
		}
	}
	for _, r := range rows {
		r.summarise()
	}
	if c.JSON {
		enc := json.NewEncoder(stdout)
		for _, r := range rows {
			if err := enc.Encode(r); err != nil {
				return err
			}
		}
		return nil
	}
	return writeStreams(stdout, c, rows)
}

// run measures row r once with the throughput run rc, adding spinwire's
// and the floor's rates to the row.
func (r *streamRow) run(rc *config) error {
	var out, errs bytes.Buffer
	if err := measure(rc, &out, &errs); err != nil {
		return err
	}
	var sw, fl float64
	dec := json.NewDecoder(&out)
	for dec.More() {
		var res result
		if err := dec.Decode(&res); err != nil {
			return fmt.Errorf("reading the run's JSON: %w", err)
		}
		for _, w := range res.Warnings {
			if !slices.Contains(r.Warnings, w) {
				r.Warnings = append(r.Warnings, w)
			}
		}
		switch res.Transport {
		case "spinwire":
			sw = res.MsgsPerSec
		case "floor-c":
			fl = res.MsgsPerSec
		}
	}
	if sw <= 0 || fl <= 0 {
		return fmt.Errorf("no rate for spinwire (%v) or the floor (%v)", sw, fl)
	}
	r.Rates, r.Floors = append(r.Rates, sw), append(r.Floors, fl)
	r.Ratios = append(r.Ratios, sw/fl)
	return nil
}

// summarise sets the row's medians from its passes.
func (r *streamRow) summarise() {
	r.Ratio, r.MsgsPerSec, r.FloorPerS = median(r.Ratios), median(r.Rates), median(r.Floors)
}

// writeStreams prints streams mode's table.
func writeStreams(w io.Writer, c *config, rows []*streamRow) error {
	passes := "passes"
	if c.Passes == 1 {
		passes = "pass"
	}
	fmt.Fprintf(w, "# pingpong %s: streams, spinwire against the C floor doing the same copy (floor_stream), %d %s of %d rounds per row\n",
		version(), c.Passes, passes, c.Rounds)
	for _, l := range hostLines(tuning.HostCPU(), nil) {
		fmt.Fprintln(w, "#", l)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "size\tprotocol\tbatch\t× floor\tper pass\tspinwire msg/s\tfloor msg/s")
	for _, r := range rows {
		each := make([]string, len(r.Ratios))
		for i, x := range r.Ratios {
			each[i] = strconv.FormatFloat(x, 'f', 2, 64)
		}
		fmt.Fprintf(tw, "%d\t%s\t%d\t%.2f\t%s\t%.1f M\t%.1f M\n", r.Size, r.Protocol, r.Batch, r.Ratio, strings.Join(each, " "), r.MsgsPerSec/1e6, r.FloorPerS/1e6)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	var warned []string
	for _, r := range rows {
		for _, x := range r.Warnings {
			if !slices.Contains(warned, x) {
				warned = append(warned, x)
				fmt.Fprintln(w, "# warning:", x)
			}
		}
	}
	_, err := fmt.Fprintln(w, "# × floor: the median over the passes of spinwire's msg/s ÷ the floor's in the same run; the targets are 0.8 × at 64 bytes, 0.9 × from 1 KiB")
	return err
}
