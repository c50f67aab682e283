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
	deadline := time.After(10 * time.Second)
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
			return fmt.Errorf("trial %d: %d of client %d's %d connections reconnected within 10 s", t, len(seen), c.pid, c.conns)
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
	var last int64
	for got := 0; got < victim.conns; {
		select {
		case f := <-b.freed:
			if atoi64(f[0]) == int64(victim.pid) {
				got++
				last = max(last, atoi64(f[1]))
			}
		case <-time.After(10 * time.Second):
			return fmt.Errorf("client kill %d: %d of %d slots reclaimed within 10 s", k, got, victim.conns)
		}
	}
	record(b.reclaim, tKill, last)
	b.cfg.Logf("client kill %d: %d slots reclaimed", k+1, victim.conns)
	return b.startClient(i)
}

// stopClients closes every client's stdin and adds up the STATS each
// prints as it stops.
func (b *bench) stopClients() error {
	for _, c := range b.clients {
		c.stdin.Close()
	}
	for i, c := range b.clients {
		f, err := b.stats(c)
		if err != nil {
			return err
		}
		res := b.res
		res.Calls += uint64(atoi64(f[0]))
		res.Duplicated += uint64(atoi64(f[2]))
		res.Wrong += uint64(atoi64(f[3]))
		res.Lost += uint64(atoi64(f[4]))
		res.LeakedFDs += int(atoi64(f[5]))
		res.LeakedMaps += int(atoi64(f[6]))
		b.cfg.Logf("client %d: %d fds, %d maps left", c.pid, atoi64(f[5]), atoi64(f[6]))
		c.cmd.Wait()
		b.clients[i] = nil
	}
	return nil
}

// stats reads client c's lines up to its STATS line and returns its seven
// fields; DETECTED lines of the last server kill may come up to there.
func (b *bench) stats(c *proc) ([]string, error) {
	deadline := time.After(10 * time.Second)
	for {
		select {
		case l, ok := <-c.lines:
			if !ok {
				return nil, fmt.Errorf("client %d exited before STATS", c.pid)
			}
			switch f := strings.Fields(l); {
			case len(f) == 3 && f[0] == "DETECTED":
				b.detected(c.pid, f[1], atoi64(f[2]))
			case len(f) == 8 && f[0] == "STATS":
				return f[1:], nil
			}
		case <-deadline:
			return nil, fmt.Errorf("client %d: no STATS within 10 s", c.pid)
		}
	}
}

// stopServer checks that the server, once every client is gone, freed
// every slot and holds nothing for them, and stops it.
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
		return nil
	case <-time.After(5 * time.Second):
		return errors.New("the server did not report its fds")
	}
}
