// Package link connects processes on one host: a server answers
// fixed-layout requests from many clients through shared memory.
//
//	srv, err := link.Listen[Order, Ack]("orders", link.Options{})
//	go srv.Serve(func(o *Order, a *Ack) { a.ID = o.ID })
//
//	conn, err := link.Dial[Order, Ack]("orders", link.DialOptions{})
//	err = conn.Call(time.Now().Add(time.Second), &Order{ID: 42}, &ack)
//
// Req and Resp are fixed-layout types (layout.Of): no pointers, explicit
// padding. A client whose types differ from the server's is refused: Dial
// returns a *layout.MismatchError that names the field, with the client's
// side as Ours, and the server logs the same difference from its side.
//
// # Set-up
//
// Listen binds a Unix socket named after the server in a 0700 directory
// (Dir). Dial connects; the server checks the client's credentials against
// its Policy (its own uid by default), compares the layouts, and gives the
// client a slot in a shared-memory arena. Each uid gets an arena of its
// own, so a client can reach only its own uid's connections, and every
// value the server reads there is checked: a client that writes what no
// correct client writes loses its connection, never the server. After
// set-up the socket carries nothing; it stays open so that each side sees
// the other's death. Dial to a name no server listens on fails with
// ErrNoServer, or waits for a server with DialOptions.WaitServer.
//
// # Calls
//
// Conn.Call writes the request into the connection's slot, spins for
// DialOptions.SpinFor watching for the response, then parks until the
// process's client poller brings it. Send and Poll pipeline up to
// Options.Depth calls without blocking; Publish sends one way. None of
// them allocates (TestCallZeroAllocs). On the server, Serve runs pollers —
// agent.Agents, pinned to Options.CPUs — that find work through a doorbell
// bitmap, hand the handler a private copy of the request and let it write
// the response in place. A poller takes at most Depth requests from a
// connection per sweep, so no client can starve the others.
//
// # Failures
//
// Every Call ends in exactly one response or one error: its own response
// (checked against the call's id), ErrTimeout at its deadline, or
// ErrPeerGone when the server dies with the call in flight. Nothing is
// retried behind the caller's back, so nothing is duplicated. A Conn whose
// server died redials by itself (after 1 ms, doubling to 50 ms, with
// jitter) and checks the layouts again; calls made meanwhile wait for it up
// to their deadline, or fail at once with DialOptions.FailFast. Each side
// learns of the other's death from the socket and, sooner, from a liveness
// page that the kernel marks when the other's owning thread dies
// (liveness.go); `pingpong -mode restart` times both (docs/benchmarks.md,
// "Crash and restart").
//
// # Cost
//
// A connection that has carried nothing costs no shared memory — its
// slots are holes of the memfd — and the server one 72-byte record
// (TestConnRecordSize). A slot holds a request and then its response: 64
// bytes for messages of up to 48 bytes, and a client that calls one at a
// time uses only its first slot. `pingpong -mode conns` measures the
// server's memory with 1000 connections (docs/benchmarks.md). The arena's
// layout is in arena.go, the call protocol in callring.go, the set-up
// messages in wire.go.
package link
