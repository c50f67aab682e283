// Package restartbench is the crash-and-restart benchmark behind
// `pingpong -mode restart`, and the chaos test of link's delivery
// semantics: a server process and client processes that call continuously
// with sequence numbers and check every reply, while the orchestrator (Run)
// kills the server (and clients) with SIGKILL and restarts them, timing
// detection, reconnection and reclaim from CLOCK_MONOTONIC stamps the
// processes print.
//
// The children are the calling program re-executed (Config.Spawn) with
// the role in its environment; its main calls ChildMain when Role is set.
// They talk to the orchestrator in lines on stdout:
//
//	server:  ACCEPTING <t>        bound, accepting connections
//	         FREED <pid> <t>      a dead client's slot freed
//	         FDS <leaked> <conns> at exit, every client gone
//	client:  READY <pid>          every connection dialled
//	         DETECTED <conn> <t>  the connection saw the server die
//	         RECONNECTED <conn> <t> its first reply from a new server
//	         STATS <fds> <maps>   at exit: descriptors and mappings left
//
// # Accounting for every call
//
// A killed process prints nothing more, so what the calls did is not in
// the lines: each child gets a log from the orchestrator (log.go), a
// sealed memfd it inherits as descriptor 3 and maps. A client stores a
// record of each call before making it (its connection, seq, start time,
// "in flight") and the call's outcome after it; a server stores each
// request its handler runs (client incarnation, connection, seq) before
// writing the response. The stores are in shared memory, so they survive
// the writer's SIGKILL; the orchestrator reads each log once its writer
// has exited or been killed, checking it as hostile input (ledger.go).
//
// From the logs every call is put in one category (Result): answered,
// failed (an error the caller saw: ErrPeerGone, ErrTimeout, other),
// interrupted (in flight when its own client was killed), lost (in flight
// longer than its deadline and a grace, with no outcome), duplicated
// (executed more than once by the servers, over every incarnation) or
// wrong (a response with the wrong content, or one to a call no server
// executed). Whether a failed call was executed is not an error — the
// caller cannot know — and is counted apart (FailedExecuted). What is not
// checkable: a request the server read with a seq of 0 leaves no record
// (clients never send one), and nothing says whether an interrupted call
// was answered in the instant before the kill.
package restartbench
