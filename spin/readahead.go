package spin

import (
	"math"
	"unsafe"

	"github.com/spinwire/spinwire/asm"
)

// Read-ahead: a consumer that knows, from the producer's tail, that a
// stretch of messages is published prefetches it a little ahead of where
// it reads (asm.Prefetch), so that the lines cross from the producer's
// cache several at a time. Without it each message's first load waits for
// its own line: on a Xeon host (family 6 model 207) a 64-byte Cursors
// stream at batch 64 ran at 30–38 M msg/s with the consumer the slower
// side, and at 68–82 M with it (pingpong -mode throughput -protocol
// cursors -batch 64; docs/benchmarks.md, "Stream sessions",
// twelfth). Only what is published is prefetched, so no line is pulled
// from under a producer still writing it. InSlot rings publish no tail
// and do not read ahead, nor does a Log's consumer ahead of a record over
// aheadBlock bytes (see Log.Poll).
const (
	aheadBytes = 1024 // how far ahead of the read position the prefetched stretch reaches, at least
	aheadBlock = 512  // bytes asked for per prefetch call, at most
	// aheadLeast: the published bytes past the read position below which
	// the consumer does not prefetch. Prefetching whenever anything was
	// published took the 64-byte streams at batch 1 from 17–31 to 12–18 M
	// msg/s on the Xeon host (the consumer, faster, caught up and
	// polled the tail line per message); from 1 KiB or 2 KiB behind on,
	// 18–37 M beside 17–27 M for no prefetch, 2 KiB the better at batch
	// 64 (same runs as above).
	aheadLeast = 2048
)

// readAhead prefetches the published units [pf, t) of a circular buffer
// of mask+1 units of unit bytes each at base, up to ahead+block units past
// the read position h and no further than the buffer's end (aheadSpan),
// and returns where the prefetched stretch now ends. A unit is a byte
// (Log) or a slot (Ring); positions count units from the start, with
// h ≤ t and t-h no more than the buffer (the caller validated them). A
// consumer calls it when ra.due says so: once per block at most. Cost:
// one call to asm.Prefetch, a PREFETCHT0 per line.
func readAhead(base unsafe.Pointer, unit uintptr, mask, pf, h, t uint64, ra readAheadParams) uint64 {
	from, idx, n := aheadSpan(mask, pf, h, t, ra.ahead, ra.block)
	if n != 0 {
		prefetchLines(unsafe.Add(base, uintptr(idx)*unit), int(uintptr(n)*unit))
	}
	return from + n
}

// prefetchLines is asm.Prefetch; tests record the stretches instead.
var prefetchLines = asm.Prefetch

// aheadSpan is readAhead's stretch: it starts at from = max(pf, h), at
// index idx in the buffer, and runs n units, cut at t, at h+ahead+block
// and at the buffer's end (n is 0 when nothing is left to prefetch).
func aheadSpan(mask, pf, h, t, ahead, block uint64) (from, idx, n uint64) {
	from = max(pf, h)
	end := min(t, h+ahead+block)
	if from >= end {
		return from, 0, 0
	}
	idx = from & mask
	return from, idx, min(end-from, mask+1-idx)
}

// readAheadParams is readAhead's distances for a buffer of units of one
// size: aheadBytes, aheadBlock and aheadLeast in whole units, at least one
// each, or, for units larger than aheadBlock, never (least is the largest
// uint64). A consumer prefetches only while it is at least least units behind
// the tail: one that runs close behind its producer gains nothing from a
// prefetch, and a faster one only reloads the tail more often, taking
// its line from a producer that stores it per message (pingpong -batch 1,
// 64 B: see aheadLeast).
type readAheadParams struct{ ahead, block, least uint64 }

// due reports whether a consumer reading at h, with the tail at t and the
// prefetched stretch ending at pf, calls readAhead now: something
// published is not prefetched, the stretch reaches less than ahead units
// past h, and the consumer is least units or more behind. Inlined: three
// compares per message.
func (ra readAheadParams) due(pf, h, t uint64) bool {
	return pf < t && pf < h+ra.ahead && t-h >= ra.least
}

func aheadUnits(size uintptr) readAheadParams {
	if size > aheadBlock {
		// A message of more than a block has lines enough of its own in
		// flight while it is copied; a prefetch of whole such slots
		// waited for free fill buffers (perf: a third of the samples in
		// asm.prefetch at 4 KiB) and the rows did not gain.
		return readAheadParams{ahead: 1, block: 1, least: math.MaxUint64}
	}
	return readAheadParams{
		ahead: max(1, uint64(aheadBytes/size)),
		block: max(1, uint64(aheadBlock/size)),
		least: max(1, uint64(aheadLeast/size)),
	}
}
