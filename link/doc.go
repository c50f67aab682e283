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
// Listen binds a Unix socket named after the server in a directory (Dir).
// Dial connects; the server checks the client's credentials — those the
// kernel recorded at the connect (SO_PEERCRED) — against its Policy (its
// own uid by default) at the accept, before it reads anything the client
// sends, and closes a refused connection at once. It then reads the
// client's hello, compares the layouts, and gives the client a slot in a
// shared-memory arena. Dial to a name no server listens on fails with
// ErrNoServer, or waits for a server with DialOptions.WaitServer. After
// set-up the socket carries nothing; it stays open so that each side sees
// the other's death.
//
// A server with the default Policy has a 0600 socket, which only its uid
// can connect to. A Policy that lists UIDs or GIDs makes the socket 0666
// and, with an empty Options.Dir, puts it in SharedDir (0711: any uid may
// traverse it, no one else may list it); the check at the accept then does
// the refusing (Listen).
//
// The client checks the server in turn, right after the connect
// (SO_PEERCRED of the listening process): it must run as the client's
// uid, as root, or as the uid that owns the socket's directory, and
// SharedDir(uid) must belong to uid — anyone may make a directory in
// /dev/shm, and serve there first. Otherwise Dial fails with
// ErrPermission and sends nothing.
//
// # Trust domains
//
// Each client process gets an arena of its own, known by the pid and uid
// of its connections and its start time; the server hands a process only
// its own arena's memfd, and different processes never share one, even of
// the same uid. A process can therefore corrupt, stall or forge only its
// own calls: every value the server reads in an arena is checked, and a
// connection whose client writes what no correct client writes is dropped,
// never the server, never another process's connection. Within a process,
// each call's id word carries a random per-connection tag (arena.go), so
// that a stray write into a connection's slot is refused as corrupt rather
// than taken for a response. (Processes of one uid can reach each other's
// memory by other means — ptrace, /proc/PID/mem — unless the host forbids
// it; link only makes sure it hands them nothing.) What a client sends
// costs the server nothing before its credentials pass: pending set-ups
// are limited in all, per uid and per process; connections attached from
// a uid other than the server's, to Options.MaxConnsPerUID (a quarter of
// MaxConns), so that no other uid can take every slot; a process's liveness page
// is mapped once its first hello has passed every check, one per process;
// a departed process's arena and page are unmapped and closed.
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
// connection per sweep, so no client can starve the others. A handler
// given to ServeCaller also gets the Caller — the calling process's pid,
// uid and gid, the connection's slot and accept time — and may close that
// connection; Server.Conns lists them all for an operator.
// It may also defer the call (Caller.Defer) and answer it later from any
// goroutine, once (Server.Reply): the call's slot stays reserved until
// then, and the client takes that response whenever it comes, ahead of
// older calls still unanswered (defer.go).
//
// A Conn is for one goroutine at a time; a Pool lets any number share a
// few Conns. CallContext takes a context's deadline and cancellation.
//
// # Pushes
//
// A server made with ListenPush[Req, Resp, P] can also send one-way
// messages of type P to a connection, unasked: PushServer.Push to a Peer
// (Caller.Peer in a handler, ConnInfo.Peer from Conns or OnConnect), from
// any goroutine. A client takes them only if it dials with DialPush and
// the same P (checked like Req and Resp); its connection then has a ring
// of Options.PushDepth messages in its arena, which TryRecv, Recv and
// Drain read in order, and a connection dialled with Dial has none. Push
// never waits: a full ring — a client that does not take its messages —
// makes it return ErrFull at once, counted (ServerStats.PushFull). The
// client publishes how far it has read in a word the server reads only
// when the ring looks full, and a value no correct client writes there
// drops that connection (push.go). A push ring costs no memory until the
// server first writes to it, then PushDepth × 64 bytes for messages of up
// to 56 bytes.
//
// # Failures
//
// Every Call ends in exactly one response or one error: its own response
// (checked against the call's id and the connection's tag), ErrTimeout at
// its deadline, ErrPeerGone when the server dies with the call in flight,
// ErrClosed when the Conn is closed (from any goroutine), or ErrCorrupt
// when the connection's slots hold what no correct server writes. Nothing
// is retried behind the caller's back, so nothing is duplicated. A Conn
// whose server died, or that found corruption (it closes that connection,
// which tells the server), redials by itself (after 1 ms, doubling to 500
// ms, with jitter) and checks the layouts again; calls made meanwhile wait
// for it up to their deadline, or fail at once with DialOptions.FailFast.
// Conn.Stats counts redials and corruption; OnState reports both. No wait
// spins without bound: a call spins for DialOptions.SpinFor and then
// parks, until its deadline if it has one. Each side learns of the other's
// death from the socket and, sooner, from a liveness page that the kernel
// marks when the other's owning thread dies (liveness.go); `pingpong -mode
// restart` times both (docs/benchmarks.md, "Crash and restart"). A server
// out of file descriptors stops polling its listener for a while (10 ms,
// doubling to 1 s) and serves its attached connections meanwhile.
//
// # Cost
//
// A connection that has carried nothing costs no shared memory — its
// slots are holes of the memfd — and the server one 64-byte record
// (TestConnRecordSize); a client process, an arena (its header page) and
// a liveness page mapped. A slot holds a request and then its response: 64
// bytes for messages of up to 48 bytes, and a client that calls one at a
// time uses only its first slot. `pingpong -mode conns` measures the
// server's memory with 1000 connections (docs/benchmarks.md). The arena's
// layout is in arena.go, the call protocol in callring.go, the set-up
// messages in wire.go.
package link
