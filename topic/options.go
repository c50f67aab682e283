package topic

import (
	"path/filepath"
	"strings"
	"time"

	"github.com/spinwire/spinwire/internal/msg"
	"github.com/spinwire/spinwire/internal/rundir"
	"github.com/spinwire/spinwire/link"
	"github.com/spinwire/spinwire/spin"
)

// Policy is what a publisher does when a subscriber falls behind.
type Policy uint32

const (
	// Lossy: the publisher never waits; a lapped subscriber counts what it
	// lost (Subscriber.Lost) and goes on from the oldest message left
	// that the publisher is not about to overwrite: an eighth of the
	// capacity past the oldest (Subscriber.Poll).
	Lossy Policy = 1
	// Reliable: the publisher waits for the slowest live subscriber,
	// evicting one that stalls past StallTimeout.
	Reliable Policy = 2
)

func (p Policy) String() string {
	switch p {
	case Lossy:
		return "lossy"
	case Reliable:
		return "reliable"
	}
	return "Policy(" + msg.Sprintf("%d", uint32(p)) + ")"
}

// Options configures Create.
type Options struct {
	// Dir is the topic directory; empty: DefaultDir(), which only this
	// uid may write. In one that others may write, they can remove the
	// topic's name, and add names the publisher then looks at (a bounded
	// look: at most 64 tried every 10 ms, refusals remembered).
	Dir      string
	Capacity int    // slots, a power of two (default 1024)
	Policy   Policy // default Lossy
	// History gives a subscriber that joins up to the last History
	// messages first (at most Capacity; default 0: only new ones). On a
	// reliable topic a joiner gets at most Capacity less an eighth, and
	// the publisher reads its subscribers' positions every Capacity less
	// that many messages at least, so as not to rewrite them before it
	// has seen the joiner.
	History int
	// StallTimeout is how long a reliable publisher waits for a subscriber
	// that does not move before it evicts it (default 1 s). Another uid
	// whose subscribers (Share) stall it three times within 60
	// StallTimeouts is let go whole and refused for as long
	// (share_stall.go).
	StallTimeout time.Duration
	// Idler is how Publish waits for room (default spin.BusySpin).
	Idler spin.Idler
	// Logf receives evictions and other events (default: none). It is
	// called from the publishing goroutine and the publisher's
	// housekeeping, sometimes under the publisher's locks: it must not
	// block, nor call the Publisher's methods.
	Logf func(format string, args ...any)
	// Share, if it lists UIDs or GIDs, lets subscribers of those uids
	// subscribe too, through a socket in SharedDir (share.go); the
	// publisher's uid subscribes by name in Dir as always.
	Share link.Policy
}

// SubscribeOptions configures Subscribe.
type SubscribeOptions struct {
	Dir string // the topic directory; empty: DefaultDir()
	// Wait is how long Subscribe waits for a publisher to appear
	// (default 0: ErrNoPublisher at once).
	Wait time.Duration
	// MaxLength is the largest topic segment accepted (default 1 GiB).
	MaxLength int64
	// Latency, if set, receives the time from publish to receipt, in
	// nanoseconds, of the messages the publisher stamps (one in
	// StampEvery) that this subscriber takes while the stamp is still
	// theirs — on the subscriber's goroutine. Cost on those: three loads
	// and a TSC read; on the others, a test of the position.
	Latency link.Recorder
}

// DefaultDir returns the topic directory: "topic" in link.Dir(), mode
// 0700 (subscribers of the publisher's uid only), created if missing. One
// that is not a directory of this uid, or that others may read or write,
// is refused (0711 is accepted: it is also SharedDir when link.Dir is
// link.SharedDir).
func DefaultDir() (string, error) {
	d, err := link.Dir()
	if err != nil {
		return "", err
	}
	d = filepath.Join(d, "topic")
	if err := rundir.Ensure("topic: directory", d, 0o700); err != nil {
		return "", err
	}
	return d, nil
}

// checkName refuses names that could not be a file in the directory or
// that would clash with subscriber segments ("~").
func checkName(name string) error {
	if name == "" || name == "." || name == ".." || len(name) > 100 || strings.ContainsAny(name, "/~\x00") {
		return msg.Errorf("%w: topic name %q (1…100 bytes, no '/', '~' or NUL)", ErrBadOption, name)
	}
	return nil
}

func (o *Options) fill() error {
	if o.Capacity == 0 {
		o.Capacity = 1024
	}
	if o.Policy == 0 {
		o.Policy = Lossy
	}
	if o.StallTimeout == 0 {
		o.StallTimeout = time.Second
	}
	if o.Idler == nil {
		o.Idler = spin.BusySpin{}
	}
	if o.Logf == nil {
		o.Logf = func(string, ...any) {}
	}
	switch {
	case o.Capacity < 2 || o.Capacity > 1<<24 || o.Capacity&(o.Capacity-1) != 0:
		return msg.Errorf("%w: Capacity %d (a power of two, 2…2^24)", ErrBadOption, o.Capacity)
	case o.Policy != Lossy && o.Policy != Reliable:
		return msg.Errorf("%w: Policy %d", ErrBadOption, uint32(o.Policy))
	case o.History < 0 || o.History > o.Capacity:
		return msg.Errorf("%w: History %d (0…Capacity)", ErrBadOption, o.History)
	case o.StallTimeout < 0:
		return msg.Errorf("%w: StallTimeout %v", ErrBadOption, o.StallTimeout)
	}
	if o.Dir == "" {
		d, err := DefaultDir()
		if err != nil {
			return err
		}
		o.Dir = d
	}
	return nil
}
