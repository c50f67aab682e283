package link

import (
	"slices"

	"github.com/spinwire/spinwire/internal/msg"
	"github.com/spinwire/spinwire/internal/proc"
	"golang.org/x/sys/unix"
)

// Trust domains. Each client process gets an arena of its own: the server
// hands a process only its own arena's fd, so whatever the process writes
// there — garbage, forged responses, cleared doorbells — reaches its own
// connections only. A process is known by the pid and uid the kernel
// records at its connect (SO_PEERCRED) and by its start time, read from
// /proc, so that a pid reused after the process died names another domain;
// for its later connections, by the liveness page they carry (domainFor).
//
// A domain lives while the process has connections attached: it is made
// at the first one's set-up and put in the pollers' list at its attach;
// when the last one leaves it is taken out of the list and, after a grace
// period (no poller can still be reading it), its arena is unmapped and
// closed and its liveness page unmapped. An arena is never handed to a second process.
//
// The spare: Listen makes the first process's domain, on the caller's
// goroutine; a domain whose first set-up fails before its attach goes back
// as the spare. No other is made ahead: a server keeps no arena, and no
// memfd page, for a process that may never come — every later process's
// domain is made at its first set-up, on the housekeeping goroutine, which
// would have made it then anyway, in the same round or the next.

// domainFor returns the domain of c's process — the spare, or a new one,
// if this is the process's first connection; or nil and why not. page is the
// inode of the liveness page c's hello carried (hasPage: it carried one):
// when the domain that mapped that page first is of c's pid and uid, c is
// of that process — a process's connections all carry its page, and no
// other process of that pid holds it — and /proc is not read (procStart
// costs a few microseconds, a thousand times over when a process redials
// its Conns).
func (s *server) domainFor(c *sconn, page inodeKey, hasPage bool) (*domain, string) {
	if p := s.peers[page]; hasPage && p != nil && p.owner != nil && p.owner.key.pid == c.pid && p.owner.key.uid == c.uid {
		return p.owner, ""
	}
	key := procKey{pid: c.pid, uid: c.uid, start: procStart(c.pid, &s.statBuf)}
	if d := s.domains[key]; d != nil {
		return d, ""
	}
	if s.procs.of(c.uid) >= maxProcsPerUID {
		return nil, msg.Sprintf("%d processes of uid %d attached", maxProcsPerUID, c.uid)
	}
	d := s.spare
	s.spare = nil
	if d == nil {
		var err error
		if d, err = newDomain(s.g, s.fp, s.epoch, &s.stats.arenas); err != nil {
			return nil, msg.Sprintf("no arena: %v", err)
		}
	}
	d.key = key
	s.domains[key] = d
	s.procs.add(c.uid, 1)
	return d, ""
}

// uidCounts counts something of each uid that has any — the domains, the
// connections attached: a few uids on a real host, so a slice searched in
// order rather than a map, whose table the housekeeping goroutine would
// allocate on its P. Epoll goroutine only.
type uidCounts []uidCount

type uidCount struct {
	uid uint32
	n   int32
}

// of returns the domains of uid.
func (u uidCounts) of(uid uint32) int {
	for _, e := range u {
		if e.uid == uid {
			return int(e.n)
		}
	}
	return 0
}

// add adds delta to uid's count, dropping the uid at zero.
func (u *uidCounts) add(uid uint32, delta int32) {
	l := *u
	for i := range l {
		if l[i].uid == uid {
			if l[i].n += delta; l[i].n <= 0 {
				l[i] = l[len(l)-1]
				*u = l[:len(l)-1]
			}
			return
		}
	}
	*u = append(l, uidCount{uid, delta})
}

// abandon undoes domainFor for a domain whose first set-up failed before
// its attach: no poller has seen it, and its arena was never sent, so it
// goes back as the spare.
func (s *server) abandon(d *domain) {
	if d.n > 0 || d.listed {
		return
	}
	s.forgetDomain(d)
	if d.peer != nil {
		s.dropPeer(d.peer) // not listed either: unmapped now
		d.peer = nil
	}
	if s.spare == nil {
		d.key = procKey{}
		s.spare = d
	} else {
		d.a.close()
	}
}

// forgetDomain removes d from the map of domains and from the counts, and
// unnames it as its page's owner: a later process of its pid is not led
// to it.
func (s *server) forgetDomain(d *domain) {
	delete(s.domains, d.key)
	s.procs.add(d.key.uid, -1)
	if d.peer != nil && d.peer.owner == d {
		d.peer.owner = nil
	}
}

// list puts d, and its liveness page, in the pollers' lists: at the
// attach of each of its connections (a later hello may bring the page).
func (s *server) list(d *domain) {
	if !d.listed {
		d.listed = true
		list := append(slices.Clip(*s.arenas.Load()), d)
		// SYNC: release of the new arena list; pairs with the Load in sweep.
		s.arenas.Store(&list)
	}
	if p := d.peer; p != nil && !p.listed {
		p.listed = true
		s.publishPeers()
	}
}

// unlist takes d, whose last connection is leaving, out of the server: out
// of the map and the pollers' lists. Its arena, and its page if no other
// domain shares it, go into r, to release after a grace period.
func (s *server) unlist(d *domain, r *lateRelease) {
	s.forgetDomain(d)
	d.listed = false
	old := *s.arenas.Load() // d is on it
	list := make([]*domain, 0, len(old)-1)
	for _, e := range old {
		if e != d {
			list = append(list, e)
		}
	}
	// SYNC: as in list.
	s.arenas.Store(&list)
	if d.peer != nil && s.dropPeer(d.peer) {
		r.pages = append(r.pages, d.peer)
	}
	d.peer = nil
	r.arenas = append(r.arenas, d.a)
}

// lateRelease holds mappings the pollers may still be reading — the arenas
// and liveness pages of departed client processes — until a grace period
// has passed: every poller running has begun two sweeps since the last
// was added. free releases what it retires after its own wait; what a
// failed wait leaves here the loop releases, looking every 10 ms
// (waitMillis), whether or not anything else happens.
type lateRelease struct {
	pages  []*peerPage
	arenas []*arena
	snap   []uint64 // each poller's sweeps when the last was added
}

func (r *lateRelease) pending() bool { return len(r.pages)+len(r.arenas) > 0 }

// add moves what o holds into r, and starts r's grace period again: ps
// are the server's pollers.
func (r *lateRelease) add(o *lateRelease, ps []*pollerState) {
	r.pages = append(r.pages, o.pages...)
	r.arenas = append(r.arenas, o.arenas...)
	r.snap = r.snap[:0]
	for _, p := range ps {
		r.snap = append(r.snap, p.sweeps.Load())
	}
}

// retry releases what r holds once its grace period has passed.
func (r *lateRelease) retry(ps []*pollerState) {
	if !r.pending() {
		return
	}
	for i, p := range ps {
		// Pollers started after the snapshot loaded the lists without
		// what r holds.
		if i < len(r.snap) && p.running.Load() && p.sweeps.Load() < r.snap[i]+2 {
			return
		}
	}
	r.release()
}

// release unmaps and closes what r holds, now.
func (r *lateRelease) release() {
	for _, p := range r.pages {
		unix.Munmap(p.mem)
	}
	for _, a := range r.arenas {
		a.close()
	}
	clear(r.pages)
	clear(r.arenas)
	r.pages, r.arenas = r.pages[:0], r.arenas[:0]
}

// procStart returns the start time of process pid — field 22 of
// /proc/PID/stat, in clock ticks after boot (proc.Stat) — or 0 when it
// cannot be read (no such process, a /proc mounted with hidepid, pid 0
// for a client in a pid namespace the server cannot see). Clients whose
// start time reads 0 are told apart by pid and uid alone. buf receives
// the file. Cost: a few system calls; no allocation.
func procStart(pid int32, buf *[proc.StatLength]byte) uint64 {
	if pid <= 0 {
		return 0
	}
	if _, start, err := proc.Stat(int(pid), buf); err == nil {
		return start
	}
	return 0
}
