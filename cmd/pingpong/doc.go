// Command pingpong measures what this host's CPUs can do for cross-process
// messaging: the spinwire rings beside the least Go can do (raw), the C
// floor, and the kernel's transports, on the same CPUs, in interleaved
// rounds, with honest percentiles; link's request/response with many
// connections and the server's memory (-mode conns); a link server's
// crash and restart under load (-mode restart); a topic's fan-out against
// a Ring (-mode fanout); and the table of every stream against its floor
// (-mode streams).
//
//	pingpong [-mode latency|rate|throughput] [-transport spinwire,raw,uds,…] [-n N] [-size B] …
//	pingpong -mode conns [-conns 1000] [-pipeline K | -rotate] …
//	pingpong -mode restart [-conns 100] [-trials 20] …
//	pingpong -mode fanout [-subs 8] [-policy lossy|reliable] …
//	pingpong -mode streams -floor build [-sizes 64,1024,4096] [-passes 3]
//	pingpong -check          the host's tuning findings, and exit
//	pingpong -cleanup NAME   remove what a dead link server left, and exit
//
// It starts its peer by re-executing itself; both sides pin themselves
// (-cpus A,B, default: affinity.Plan(2)). `pingpong -h` shows the common
// flags, `pingpong -mode M -h` what mode M measures and its flags,
// `pingpong -help-all` every flag and how to read the output.
//
// The files are split by concern: main.go dispatches; flags*.go hold the
// flags of each mode (a flagGroup each) and help.go their help; measure.go,
// round.go, loop.go and the transports (t_*.go) run the transport modes;
// conns.go, restart.go and fanout.go drive the harnesses in
// cmd/internal/connbench, restartbench and fanout; streams.go runs the
// throughput mode once per row and pass; check.go is -check; report.go and
// output.go write the results.
package main
