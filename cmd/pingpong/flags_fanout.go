package main

import (
	"flag"
	"fmt"
)

// fanoutFlags are fanout mode's: how many subscriptions, which policy,
// how many messages.
type fanoutFlags struct{}

func (fanoutFlags) define(fs *flag.FlagSet, c *config) {
	fs.IntVar(&c.Subs, "subs", 8, "subscriptions of the topic, 1…1024")
	fs.StringVar(&c.Policy, "policy", "lossy", "lossy or reliable")
	fs.IntVar(&c.Msgs, "msgs", 10_000_000, "messages of the stream phase, published flat out")
	fs.IntVar(&c.Paced, "paced", 100_000, "messages of the latency phase, one every 2 µs")
}

func (fanoutFlags) check(c *config, _ map[string]bool) error {
	switch {
	case c.Subs < 1 || c.Subs > 1024:
		return fmt.Errorf("-subs %d: want 1…1024", c.Subs)
	case c.Procs < 1 || c.Procs > c.Subs:
		return fmt.Errorf("-procs %d: want 1…%d (-subs)", c.Procs, c.Subs)
	case c.Policy != "lossy" && c.Policy != "reliable":
		return fmt.Errorf("-policy %q: want lossy or reliable", c.Policy)
	case c.Msgs < 1 || c.Paced < 1:
		return fmt.Errorf("-msgs %d, -paced %d: want at least 1 each", c.Msgs, c.Paced)
	}
	return nil
}

// fanoutText is fanout mode's help text.
const fanoutText = `fanout: one publisher (this process, on CPU A) and -subs subscriptions of
one topic (package topic, -policy lossy or reliable) spread over -procs
subscriber processes, each polling its subscriptions in turn, up to 256
messages at a time (reliable: Acquire and At, in place with no call per
message; lossy: PollInPlace, which copies), from one thread on CPU B;
under reliable, processes sharing CPU B yield it when they find nothing.
56-byte messages (64 with the slot's sequence). Each round has
a stream phase (-msgs messages published flat out: the publisher's rate,
and what lossy subscribers lost) and a latency phase (-paced messages
stamped with the TSC, one every 2 µs: publish → receive, each message
timed at one subscription, in turn over all of them, so that no receipt
waits for the others' clock reads). The baseline, in the same rounds, is
one spin.Ring to one consumer process doing the same two phases. The
table gives medians over -rounds.`
