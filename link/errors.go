package link

import "errors"

// Sentinel errors; functions wrap them with the values that explain them.
var (
	ErrPeerGone    = errors.New("link: peer gone")                    // the other process died or closed
	ErrTimeout     = errors.New("link: deadline exceeded")            // a call's deadline passed
	ErrServerFull  = errors.New("link: server full")                  // MaxConns connections attached
	ErrPermission  = errors.New("link: permission denied")            // the Policy refused the client
	ErrClosed      = errors.New("link: closed")                       // use after Close
	ErrCorrupt     = errors.New("link: corrupt shared state")         // the peer wrote what no correct peer writes
	ErrProtocol    = errors.New("link: protocol error")               // a malformed set-up message
	ErrInUse       = errors.New("link: name in use by a live server") // Listen on a name another server holds
	ErrFull        = errors.New("link: no free call slot")            // Send with Depth calls in flight
	ErrInvalidName = errors.New("link: invalid name")                 // empty, with '/', or too long
	ErrBadOption   = errors.New("link: invalid option")               // an Options value out of range
)
