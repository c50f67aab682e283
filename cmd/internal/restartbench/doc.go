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
//	         STATS <calls> <errs> <dup> <wrong> <lost> <fds> <maps>
package restartbench
