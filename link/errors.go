package link

import (
	"errors"
	"strconv"
	"time"
)

// Sentinel errors; functions wrap them with the values that explain them.
var (
	ErrPeerGone    = errors.New("link: peer gone")                      // the other process died or closed
	ErrNoServer    = errors.New("link: no server listening")            // Dial: no socket, or nobody accepting on it
	ErrTimeout     = errors.New("link: deadline exceeded")              // a call's deadline passed
	ErrServerFull  = errors.New("link: server full")                    // MaxConns connections attached, or MaxConnsPerUID of this uid
	ErrPermission  = errors.New("link: permission denied")              // the Policy refused the client, or the client the server (doc.go)
	ErrClosed      = errors.New("link: closed")                         // use after Close
	ErrCorrupt     = errors.New("link: corrupt shared state")           // the peer wrote what no correct peer writes
	ErrProtocol    = errors.New("link: protocol error")                 // a malformed set-up message
	ErrInUse       = errors.New("link: name in use by a live server")   // Listen on a name another server holds
	ErrFull        = errors.New("link: no free call slot")              // Send with Depth calls in flight
	ErrInvalidName = errors.New("link: invalid name")                   // empty, with '/', or too long
	ErrBadOption   = errors.New("link: invalid option")                 // an Options value out of range
	ErrReplied     = errors.New("link: deferred call already answered") // Server.Reply, twice for one call
	// ErrNoPush is Push's error for a connection dialled without pushes,
	// and DialPush's (wrapped) for a server that declares no push type.
	ErrNoPush = errors.New("link: no push on this connection")
)

// errBusy marks a refusal for too many set-ups pending: Dial tries again
// (attachWaiting). It is wrapped with ErrServerFull.
var errBusy = errors.New("busy, try again")

// noServerError is Dial's error when no server listens on a name: no
// socket file, or one nobody accepts on (a dead server's). It matches
// ErrNoServer and also ErrPeerGone: for a caller that retries when the
// server is gone, no server is the same case.
type noServerError struct {
	name, sock string
	waited     time.Duration // DialOptions.WaitServer, when Dial waited
}

func (e *noServerError) Error() string {
	s := ErrNoServer.Error() + " on " + strconv.Quote(e.name) + " (socket " + e.sock + ")"
	if e.waited > 0 {
		return s + " within " + e.waited.String() + ": start one with link.Listen, or wait longer (DialOptions.WaitServer)"
	}
	return s + ": start one with link.Listen, or set DialOptions.WaitServer"
}

func (e *noServerError) Is(target error) bool { return target == ErrNoServer || target == ErrPeerGone }
