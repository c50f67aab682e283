// Package stat publishes a process's endpoints — rings, logs, MPSC queues,
// link servers and connections — and their counters in shared memory, so
// that an operator can see them from outside with cmd/spinstat, and reads
// them back for it.
//
// Each Registry is one counters segment: a sealed memfd named PID.N in the
// registry directory (DefaultDir), a link to the process's own descriptor
// (package layout's named segments). The link dies with the process, so a SIGKILLed process's
// entries vanish at once; Scan removes the dangling links it meets.
//
// Nothing is added to a hot path. A Registry samples each endpoint on a
// goroutine of its own, every Options.Interval (100 ms by default): a ring's
// counters are its shared cursors, read with atomic loads (spin's
// Cursors), a link server's its Stats. The sampler writes each counter
// with an atomic store; readers map the segment read-only and treat every
// byte as hostile — a process of the same uid may write anything there.
// A Histogram is the one structure a hot path writes: one locked increment
// per sample.
//
// Layout of the segment body (little-endian; region.go has the offsets):
//
//	+------------------------------------------------+
//	| process header (256 B): magic "SPINSTAT",      |  0
//	| version, slots, pid, uid, interval, started,   |
//	| updated (the sampler's heartbeat), command     |
//	+------------------------------------------------+
//	| endpoint 0 (2048 B): state, kind, fingerprint, |  256
//	| created, updated, name, type name, 24 counters |
//	| (first 1024 B), 128 histogram buckets (rest)   |
//	+------------------------------------------------+
//	| endpoint 1 …                                   |  2304
//
// Pages of unused endpoint slots are never touched (the segment is sparse).
//
// Only the registry's uid (and root) can open it by name. A registry made
// with Options.Share also hands a read-only descriptor of its segment to
// the uids and gids the policy lists, through a socket in the share
// directory (share.go); ScanShared reads those. The segment is sealed
// F_SEAL_FUTURE_WRITE (layout.Segment.SealWrites), so a reader that
// reopens its descriptor read-write still cannot write it.
package stat
