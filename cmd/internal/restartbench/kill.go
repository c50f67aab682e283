package restartbench

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"
)

// killServer is server kill t: SIGKILL, a new server, and every client
// connection's DETECTED and RECONNECTED lines.
func (b *bench) killServer(t int) error {
	tKill := now()
	b.kills = append(b.kills, tKill)
	b.server.kill()
	if err := b.readExecs(b.server); err != nil {
		return err
	}
	time.Sleep(20 * time.Millisecond)
	var err error
	var tAccept int64
	if b.server, tAccept, err = b.startServer(); err != nil {
		return err
	}
	for _, c := range b.clients {
		if err := b.awaitReconnected(t, c, tKill, tAccept); err != nil {
			return err
		}
	}
	b.cfg.Logf("server kill %d: restarted, %d connections back", t+1, b.cfg.Conns)
	return nil
}

// awaitReconnected reads client c's lines until each of its connections
// has reported its first reply from the server that accepted at tAccept
// (and counts the DETECTED lines read on the way).
func (b *bench) awaitReconnected(t int, c *proc, tKill, tAccept int64) error {
	seen := map[string]bool{}
	deadline := time.After(stepTimeout)
	for len(seen) < c.conns {
		select {
		case l, ok := <-c.lines:
			if !ok {
				return fmt.Errorf("trial %d: client %d exited", t, c.pid)
			}
			f := strings.Fields(l)
			if len(f) != 3 {
				continue
			}
			switch stamp := atoi64(f[2]); {
			case f[0] == "DETECTED":
				b.detected(c.pid, f[1], stamp)
			case f[0] == "RECONNECTED" && !seen[f[1]] && stamp > tKill:
				seen[f[1]] = true
				record(b.reconnect, tAccept, stamp)
			}
		case <-deadline:
			return fmt.Errorf("trial %d: %d of client %d's %d connections reconnected within %v", t, len(seen), c.pid, c.conns, stepTimeout)
		}
	}
	return nil
}

// killClient is client kill k: a random client's SIGKILL, the server's
// FREED line for each of its slots, and a new client in its place.
func (b *bench) killClient(k int) error {
	i := rand.IntN(len(b.clients))
	victim := b.clients[i]
	// What it printed about the last server kill counts.
	for drained := false; !drained; {
		select {
		case l := <-victim.lines:
			if f := strings.Fields(l); len(f) == 3 && f[0] == "DETECTED" {
				b.detected(victim.pid, f[1], atoi64(f[2]))
			}
		default:
			drained = true
		}
	}
	tKill := now()
	victim.kill()
	b.clients[i] = nil
	if err := b.readCalls(victim, tKill, true); err != nil {
		return err
	}
	var last int64
	for got := 0; got < victim.conns; {
		select {
		case f := <-b.freed:
			if atoi64(f[0]) == int64(victim.pid) {
				got++
				last = max(last, atoi64(f[1]))
			}
		case <-time.After(stepTimeout):
			return fmt.Errorf("client kill %d: %d of %d slots reclaimed within %v", k, got, victim.conns, stepTimeout)
		}
	}
	record(b.reclaim, tKill, last)
	b.cfg.Logf("client kill %d: %d slots reclaimed", k+1, victim.conns)
	return b.startClient(i)
}

// stopClients closes every client's stdin, adds up the STATS each prints
// as it stops, and reads its log once it has exited.
func (b *bench) stopClients() error {
	for _, c := range b.clients {
		c.stdin.Close()
	}
	for i, c := range b.clients {
		f, err := b.stats(c)
		if err != nil {
			return err
		}
		b.res.LeakedFDs += int(atoi64(f[0]))
		b.res.LeakedMaps += int(atoi64(f[1]))
		b.cfg.Logf("client %d: %d fds, %d maps left", c.pid, atoi64(f[0]), atoi64(f[1]))
		if !c.exit(5 * time.Second) {
			b.cfg.Logf("client %d: still running 5 s after STATS; killed", c.pid)
		}
		b.clients[i] = nil
		if err := b.readCalls(c, now(), false); err != nil {
			return err
		}
	}
	return nil
}

// stats reads client c's lines up to its STATS line and returns its two
// fields; DETECTED lines of the last server kill may come up to there.
func (b *bench) stats(c *proc) ([]string, error) {
	deadline := time.After(stepTimeout)
	for {
		select {
		case l, ok := <-c.lines:
			if !ok {
				return nil, fmt.Errorf("client %d exited before STATS", c.pid)
			}
			switch f := strings.Fields(l); {
			case len(f) == 3 && f[0] == "DETECTED":
				b.detected(c.pid, f[1], atoi64(f[2]))
			case len(f) == 3 && f[0] == "STATS":
				return f[1:], nil
			}
		case <-deadline:
			return nil, fmt.Errorf("client %d: no STATS within %v", c.pid, stepTimeout)
		}
	}
}

// stopServer checks that the server, once every client is gone, freed
// every slot and holds nothing for them, stops it and reads its log.
func (b *bench) stopServer() error {
	for got := 0; got < b.cfg.Conns; got++ {
		select {
		case <-b.freed:
		case <-time.After(5 * time.Second):
			return fmt.Errorf("the server freed %d of %d slots after the clients stopped", got, b.cfg.Conns)
		}
	}
	b.server.stdin.Close()
	select {
	case f := <-b.fds:
		if atoi64(f[1]) != 0 {
			return fmt.Errorf("the server still has %s connections", f[1])
		}
		b.res.LeakedFDs += int(atoi64(f[0]))
		b.cfg.Logf("server: %s fds left", f[0])
		if !b.server.exit(5 * time.Second) {
			b.cfg.Logf("server: still running 5 s after FDS; killed")
		}
		err := b.readExecs(b.server)
		b.server = nil
		return err
	case <-time.After(5 * time.Second):
		return errors.New("the server did not report its fds")
	}
}

// readCalls reads the log of client c, which has exited (killed at end,
// or stopped), into the ledger and closes it.
func (b *bench) readCalls(c *proc, end int64, killed bool) error {
	s, err := decodeCalls(c.log.w, c.conns)
	c.log.close()
	if err != nil {
		return fmt.Errorf("client %d (pid %d): %w", c.index, c.pid, err)
	}
	s.settle(end, killed, b.cfg.callTimeout()+lostGrace)
	b.ledger.sheets[c.index] = s
	return nil
}

// readExecs reads the log of server p, which has exited, into the ledger
// and closes it.
func (b *bench) readExecs(p *proc) error {
	var err error
	b.ledger.execs, err = decodeExecs(p.log.w, b.ledger.execs)
	p.log.close()
	if err != nil {
		return fmt.Errorf("server (pid %d): %w", p.pid, err)
	}
	return nil
}
