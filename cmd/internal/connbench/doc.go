// Package connbench is the request/response benchmark behind
// `pingpong -mode conns`: one server process (package echo), one client
// process driving N link connections from a single pinned thread, closed
// loop (one call in flight per connection), pipelined (K in flight) or
// rotating (one call in flight in all, each connection in turn).
//
// Run records every measured call's latency, from send to response, in an
// HdrHistogram (NewHist); recording allocates nothing. ReadMemory reads a
// process's resident memory from /proc, for the server's figures.
package connbench
