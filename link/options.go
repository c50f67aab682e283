package link

import (
	"slices"
	"time"

	"github.com/spinwire/spinwire/agent"
	"github.com/spinwire/spinwire/internal/msg"
	"github.com/spinwire/spinwire/spin"
)

// MaxConnsLimit bounds Options.MaxConns.
const MaxConnsLimit = 1 << 20

// Policy says which clients a server accepts beyond its own uid. The
// server checks it at the accept, against the credentials the kernel
// recorded at the client's connect (SO_PEERCRED), and closes a refused
// connection before reading anything from it. A Policy with UIDs or GIDs
// also opens the socket to every uid (Listen says which modes); the check
// at the accept then does the refusing.
type Policy struct {
	UIDs []uint32 // also accept these uids
	GIDs []uint32 // also accept clients with one of these gids, primary or supplementary (AllowsPeer)
	// DenySameUID refuses the server's own uid unless it is listed in UIDs.
	DenySameUID bool
}

// shared reports whether p admits clients by uid or gid lists: the socket
// must then be reachable by other uids.
func (p *Policy) shared() bool { return len(p.UIDs) > 0 || len(p.GIDs) > 0 }

// AllowsPeer reports whether p admits the process at the other end of
// the Unix socket conn, whose credentials (SO_PEERCRED) are uid and gid,
// for a server (or any owner) running as serverUID: by its uid, its
// primary gid, or one of its supplementary groups — which the kernel
// recorded at its connect too (SO_PEERGROUPS), read only when GIDs are
// listed and the rest did not admit it. Cost: one getsockopt then, and
// an allocation for a peer in more than 256 groups.
func (p *Policy) AllowsPeer(serverUID uint32, conn int, uid, gid uint32) bool {
	return p.Allows(serverUID, uid, gid) || len(p.GIDs) > 0 && peerInGroups(conn, p.GIDs)
}

// Allows reports whether p admits a peer with uid and primary gid, for a
// server (or any owner) running as serverUID; AllowsPeer also looks at
// the peer's supplementary groups.
func (p *Policy) Allows(serverUID, uid, gid uint32) bool {
	if uid == serverUID && !p.DenySameUID {
		return true
	}
	if slices.Contains(p.UIDs, uid) {
		return true
	}
	return slices.Contains(p.GIDs, gid)
}

// Options configures Listen; zero values take the defaults shown.
type Options struct {
	MaxConns     int               // connections over all client processes; 4096
	Depth        int               // call slots per connection (calls in flight), a power of two in 2…MaxDepth; 4
	Pollers      int               // spinning poller agents; 1
	CPUs         []int             // poller i pins to CPUs[i]; missing: not pinned
	Mode         agent.Mode        // the pollers' agent mode; Preemptible
	Idler        func() spin.Idler // a poller's idle strategy; BusySpin
	Policy       Policy            // who may connect; the server's uid
	Dir          string            // socket directory; Dir()
	SetupTimeout time.Duration     // a client's hello must arrive within this; 1 s
	// MaxConnsPerUID bounds the connections attached from one uid other
	// than the server's (admitted by Policy), so that no other uid can
	// take every slot; MaxConns/4 (at least 1), at most MaxConns.
	MaxConnsPerUID int
	// PushDepth is the messages a connection's push ring holds
	// (ListenPush), a power of two in MinPushDepth…MaxPushDepth; 64.
	PushDepth int
	// Logf, if set, gets the server's log lines: refused clients, dropped
	// connections, and the pollers' CPU-placement warnings (agent.Agent);
	// nil: none. It must not block.
	Logf func(format string, args ...any)
	// OnConnect and OnDisconnect, if set, are called from the server's
	// housekeeping goroutine when a connection is attached and when its
	// slot has been freed (the client died, closed, or was dropped). They
	// must not block.
	OnConnect    func(ConnInfo)
	OnDisconnect func(ConnInfo)
	// Latency, if set, receives the service time of one request in
	// LatencyEvery per poller — from the poller finding the request to
	// its response being released (the handler and the copies; for a
	// deferred call, until the handler returns) — in nanoseconds, from
	// every poller's goroutine: it must be safe for concurrent use (a
	// stat.Histogram is). Cost on the requests sampled: two TSC reads; on
	// the others, a counter.
	Latency Recorder
}

// ConnInfo describes a server-side connection.
type ConnInfo struct {
	PID    int32  // the client's pid (SO_PEERCRED)
	UID    uint32 // its uid
	GID    uint32
	Index  int       // its slot in its process's arena
	Since  time.Time // when it was accepted
	Reason string    // OnDisconnect: why a dropped connection was dropped; "" if its client went away
	Peer   Peer      // the connection, for PushServer.Push
}

func (o *Options) fill() error {
	if o.MaxConns == 0 {
		o.MaxConns = 4096
	}
	if o.MaxConnsPerUID == 0 {
		o.MaxConnsPerUID = max(o.MaxConns/4, 1)
	}
	if o.Depth == 0 {
		o.Depth = 4
	}
	if o.Pollers == 0 {
		o.Pollers = 1
	}
	if o.PushDepth == 0 {
		o.PushDepth = 64
	}
	if o.Idler == nil {
		o.Idler = func() spin.Idler { return spin.BusySpin{} }
	}
	if o.SetupTimeout == 0 {
		o.SetupTimeout = time.Second
	}
	if o.Logf == nil {
		o.Logf = func(string, ...any) {}
	}
	switch {
	case o.MaxConns < 1 || o.MaxConns > MaxConnsLimit:
		return msg.Errorf("%w: MaxConns=%d (want 1…%d)", ErrBadOption, o.MaxConns, MaxConnsLimit)
	case o.MaxConnsPerUID < 1 || o.MaxConnsPerUID > o.MaxConns:
		return msg.Errorf("%w: MaxConnsPerUID=%d (want 1…MaxConns, %d)", ErrBadOption, o.MaxConnsPerUID, o.MaxConns)
	case o.Depth < 2 || o.Depth > MaxDepth || o.Depth&(o.Depth-1) != 0:
		return msg.Errorf("%w: Depth=%d (want a power of two in 2…%d)", ErrBadOption, o.Depth, MaxDepth)
	case o.PushDepth < MinPushDepth || o.PushDepth > MaxPushDepth || o.PushDepth&(o.PushDepth-1) != 0:
		return msg.Errorf("%w: PushDepth=%d (want a power of two in %d…%d)", ErrBadOption, o.PushDepth, MinPushDepth, MaxPushDepth)
	case o.Pollers < 1 || o.Pollers > 64:
		return msg.Errorf("%w: Pollers=%d (want 1…64)", ErrBadOption, o.Pollers)
	case o.SetupTimeout < 0:
		return msg.Errorf("%w: SetupTimeout=%v", ErrBadOption, o.SetupTimeout)
	}
	return nil
}

// DialOptions configures Dial; zero values take the defaults shown.
type DialOptions struct {
	Dir          string        // socket directory; Dir()
	SetupTimeout time.Duration // the server must answer within this; 1 s
	SpinFor      time.Duration // Call spins this long (for a response, or a free slot) before it parks; 20 µs
	// WaitServer makes Dial wait up to this long for a server to listen
	// on the name, trying again after 1 ms, doubling to 50 ms; 0: Dial
	// fails at once with ErrNoServer.
	WaitServer time.Duration
	// FailFast makes calls fail at once with ErrPeerGone while the Conn
	// reconnects, instead of waiting for it up to their deadline.
	FailFast bool
	// OnState, if set, is called on every state change — the change to
	// Reconnecting from the process's death watch, as soon as the socket
	// closes — with Reconnecting and the error after each failed redial,
	// and with Reconnecting and an error wrapping ErrCorrupt when a call
	// found corrupt shared state and the Conn gave up that attachment (on
	// the goroutine of that call). It must not block.
	OnState func(s State, err error)
	// Latency, if set, receives the time from send to response, in
	// nanoseconds, of one Call in LatencyEvery — on the calling goroutine,
	// one at a time (a stat.Histogram fits). Cost on the calls sampled:
	// two TSC reads; on the others, a counter.
	Latency Recorder
}

// LatencyEvery is how many Calls DialOptions.Latency samples one of.
const LatencyEvery = 64

// Recorder receives latency samples in nanoseconds.
type Recorder interface{ Record(ns int64) }

func (o *DialOptions) fill() {
	if o.SetupTimeout <= 0 {
		o.SetupTimeout = time.Second
	}
	if o.SpinFor <= 0 {
		o.SpinFor = 20 * time.Microsecond
	}
}
