// Command linkecho is a lean link server that echoes the conns benchmark's requests:
// the server process of `pingpong -mode conns`. It is its own small binary
// so that the server's memory — the figure the benchmark reports — is the
// runtime and spinwire, not the benchmark's plotting and statistics code.
//
//	linkecho -name NAME [-dir DIR] [-cpus 1] [-maxconns 4096] [-depth 4] [-dedicated]
//
// It prints "READY" once it accepts connections, and exits when its
// standard input closes.
//
// It is built with updatemaxprocs=0: it sets GOMAXPROCS itself, and the
// runtime's background GOMAXPROCS updater would only wake every second to
// read cgroup files (tuning's go-updatemaxprocs finding).
package main
