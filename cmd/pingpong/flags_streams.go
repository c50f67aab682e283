package main

import (
	"flag"
	"fmt"
	"strconv"
	"strings"
)

// streamsFlags are streams mode's: how many passes over which sizes.
type streamsFlags struct {
	sizes string
}

func (f *streamsFlags) define(fs *flag.FlagSet, c *config) {
	fs.IntVar(&c.Passes, "passes", 3, "passes over every row, 1…20")
	fs.StringVar(&f.sizes, "sizes", "64,1024,4096", "message sizes, a comma list, each 8…4096")
	fs.IntVar(&c.Count, "count", 0, "messages per row and pass, 1000…1000000000 (default: 1.28 G bytes' worth, at least 1 M)")
}

func (f *streamsFlags) check(c *config, given map[string]bool) error {
	switch {
	case c.Passes < 1 || c.Passes > 20:
		return fmt.Errorf("-passes %d: want 1…20", c.Passes)
	case given["count"] && (c.Count < 1000 || c.Count > 1_000_000_000):
		return fmt.Errorf("-count %d: want 1000…1000000000", c.Count)
	case c.Duration != 0:
		return fmt.Errorf("-duration: streams mode runs a count of messages per row (-count)")
	}
	c.Sizes = c.Sizes[:0]
	for s := range strings.SplitSeq(f.sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 8 || n > 4096 {
			return fmt.Errorf("-sizes %q: want a comma list of sizes 8…4096", f.sizes)
		}
		c.Sizes = append(c.Sizes, n)
	}
	if c.FloorDir == "" {
		return fmt.Errorf("-mode streams compares with the C floor: give -floor DIR (make floor builds it into build/)")
	}
	return nil
}

// streamsText is streams mode's help text.
const streamsText = `streams: the one-way stream against its C floor, every row of the table
docs/benchmarks.md keeps per host, in one command: for each -sizes size,
the Ring under both protocols (inslot, cursors) and the Log (log; at 64
bytes also records, the Log through spin.Records), each at batch 1 and
batch 64, run as -mode throughput -transport spinwire -floor DIR (the
floor doing the same copy in the same rounds). -passes times over every
row, a pass at a time, so that the host's drift spreads over the rows. A
row gives the median over the passes of spinwire's rate ÷ the floor's
(each pass's ratio after it) and the median rates; the runs' warnings
follow the table. -json gives a line per row with each pass's ratio and
rates. Messages per row and pass (over its -rounds): -count, by default
1.28 G ÷ the size, at least 1 M.`
