package topic

import "errors"

var (
	// ErrEvicted: the publisher let this subscriber go — it stalled a
	// reliable topic past StallTimeout, or wrote a position no honest
	// subscriber writes. Subscribe again to rejoin.
	ErrEvicted = errors.New("topic: evicted by the publisher")
	// ErrInUse: another live publisher holds the name.
	ErrInUse = errors.New("topic: name in use by a live publisher")
	// ErrNoPublisher: no publisher holds the name (SubscribeOptions.Wait
	// passed, or was 0).
	ErrNoPublisher = errors.New("topic: no publisher")
	ErrPermission  = errors.New("topic: permission denied") // the publisher's Policy refused this uid, or this process the publisher
	// ErrBusy: a publisher of another uid's topic (SharedDir) keeps as
	// many subscribers of this uid or this process as it allows, or is
	// setting up as many (tried again until SubscribeOptions.Wait, at least
	// 100 ms, has passed), or refuses this uid for a while: its subscribers
	// stalled the reliable topic again and again (share_stall.go).
	ErrBusy = errors.New("topic: publisher busy")
	// ErrCorrupt: the topic segment holds what no publisher writes.
	ErrCorrupt = errors.New("topic: corrupt topic segment")
	// ErrClosed: the Publisher or Subscriber was closed.
	ErrClosed = errors.New("topic: closed")
	// ErrBadOption: an option out of range.
	ErrBadOption = errors.New("topic: bad option")
)
