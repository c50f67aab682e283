package topic

import (
	"github.com/spinwire/spinwire/asm"
)

// Latency stamps. The publisher stamps one message in StampEvery — those
// whose position is a multiple of it — in one shared line of the topic
// header (offStampPos, offStampTicks), before it publishes the message: a
// seqlock of its own, the position withdrawn (0), the TSC ticks, then the
// position + 1, release stores all. A subscriber with
// SubscribeOptions.Latency that takes such a message reads the stamp
// (position, ticks, position again) and records now − ticks if the stamp
// is still that message's: a subscriber StampEvery or more behind has
// lost it to the next one, and records nothing. The stamp costs the
// publisher a TSC read and three stores per StampEvery messages, and the
// line moves to the subscribers' CPUs once per StampEvery
// (BenchmarkPublish/stream).

// StampEvery is how many messages the publisher stamps one of.
const StampEvery = 256

// stamp stamps position pos with the time now.
func (p *Publisher[T]) stamp(pos uint64) {
	// SYNC: the stamp's seqlock: withdrawal, ticks, publication, release
	// stores paired with sample's acquire loads.
	asm.StoreRelease64(word(p.mem, offStampPos), 0)
	asm.StoreRelease64(word(p.mem, offStampTicks), asm.Ticks())
	asm.StoreRelease64(word(p.mem, offStampPos), pos+1)
}

// sample records the latency of the message at pos, just taken, if the
// stamp is still its. The stamp comes from the publisher: a hostile one
// can make the figure anything, never the read go astray (fixed offsets
// in the mapped header).
func (s *Subscriber[T]) sample(pos uint64) {
	m := s.t.mem
	if load(m, offStampPos) != pos+1 {
		return
	}
	t := load(m, offStampTicks)
	if load(m, offStampPos) != pos+1 {
		return
	}
	// A clock of a few ticks a microsecond (arm64's generic timer may
	// tick every 40 ns) reads the same value on both sides of a short
	// hop: that is a latency under one tick, recorded as 0, not dropped.
	if now := asm.Ticks(); now >= t {
		s.opts.Latency.Record(int64(asm.TicksToNanos(now - t)))
	}
}
