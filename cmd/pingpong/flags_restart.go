package main

import (
	"flag"
	"fmt"
)

// restartFlags are restart mode's: how many kills.
type restartFlags struct{}

func (restartFlags) define(fs *flag.FlagSet, c *config) {
	fs.IntVar(&c.Trials, "trials", 0, "server kills (and as many client kills), 1…1000 (default 20)")
}

func (restartFlags) check(c *config, given map[string]bool) error {
	if !given["trials"] {
		c.Trials = 20
	}
	if c.Trials < 1 || c.Trials > 1000 {
		return fmt.Errorf("-trials %d: want 1…1000", c.Trials)
	}
	return nil
}

// restartText is restart mode's help text.
const restartText = `restart: a link server and -conns clients (default 100) in -procs
processes calling continuously; -trials times the server is killed (SIGKILL)
and restarted, then as many random clients are killed and restarted. It
reports detection (kill → the client's death watch), reconnection (new
server accepting → a client's first reply from it) and the server's reclaim
of a dead client's slots. It accounts for every call, killed clients'
included (each process logs its calls, or executions, in shared memory that
outlives a kill): answered (response checked), failed (an error the caller
saw), interrupted (in flight when its own client was killed), lost (neither
response nor error by its deadline + 2 s), duplicated (executed twice by
the servers) and wrong (wrong content, or answered but never executed);
lost, duplicated and wrong are 0 for a correct library. With -floor, the C
floor (floor_death) runs in the same run. -cleanup NAME removes what a dead
server left behind.`
