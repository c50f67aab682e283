// Package link connects processes: a server and many clients exchanging
// fixed-layout requests and responses through shared memory.
//
// Set-up goes over a Unix socket (SOCK_SEQPACKET) in a 0700 directory:
// Listen binds it, Dial connects, the server checks the client's
// SO_PEERCRED against a Policy, compares the two sides' layout
// fingerprints (a mismatch fails Dial with layout.ErrLayoutMismatch naming
// the field that differs), assigns the client a slot in the arena of its
// trust domain and passes the arena's sealed memfd with SCM_RIGHTS. From
// then on the socket carries nothing: it stays open only so that the
// kernel closes it when either process dies, which the other side's epoll
// loop sees at once.
//
// Death, sooner. A socket closes only once the last thread of a killed
// process is gone. So each side also hands the other a read-only liveness
// page (liveness.go, peers.go) whose words the kernel itself marks
// FUTEX_OWNER_DIED early in the exit of one owning thread (a robust futex
// list): the server's page is owned by poller 0's thread and wakes one
// waiter per client process; a client process's page is owned by its death
// watch's thread and read by poller 0. Measured after a SIGKILL: clients
// learn of a dead server in 0.34 ms at the median (1.6 ms through the
// socket), and a dead client's slots are free again in 0.75 ms (1.8 ms).
// A Call spinning on its response sees the server's page without any
// wake-up at all.
//
// Trust domains. Every uid gets its own arena; connections of one uid share
// it. Processes of one uid can already read each other's memory (ptrace,
// /proc/PID/mem), so packing their rings into one memfd exposes nothing new;
// processes of different uids never share an arena, and a client is never
// given the server's private state. A client can corrupt only its own
// uid's arena — and every value the server reads there is checked: a bad
// sequence or slot value drops that connection, never the server.
//
// The arena (see arena.go for the diagram) packs, per connection, one ring
// of Depth call slots — a call's request and then its response take the
// same slot, 64 bytes each for messages of up to 48 bytes, laid out
// slot-major so that a client calling one at a time, which uses only its
// first slot, costs 64 bytes of shared memory and one that pipelines
// Depth × 64 — plus one doorbell bit that the client sets after
// publishing, so the server's pollers scan bitmap words instead of a
// thousand rings. The ring's initial state is all zeroes and neither side
// writes it before a message, so the pages of an attached connection that
// has carried nothing are never allocated: an idle connection costs the
// host no shared memory, and the server its 72-byte record. The server
// hands its handler a private copy of the request and lets it write the
// response into the slot. Pollers are agent.Agents pinned
// to Options.CPUs; each sweep takes at most Depth requests from a
// connection, so a flooding client cannot starve the others.
//
// Calls. Conn.Call publishes the request, spins for DialOptions.SpinFor
// watching its response slot, then hands the wait to the process's client
// poller (one goroutine for every Conn of the process) and parks. Send and
// Poll pipeline without blocking; Publish sends one way (the handler runs,
// no response comes back), for streams. None of them allocates.
//
// Delivery. Every Call ends in exactly one response or one error: the
// response (checked against the call's correlation id, so never another
// call's), ErrTimeout at its deadline, or ErrPeerGone when the server dies
// with the call in flight — nothing is retried behind the caller's back, so
// nothing is duplicated; the caller decides. A Conn then redials by itself
// (1 ms doubling to 50 ms, with jitter) and checks the layouts again.
package link
