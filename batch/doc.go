// Package batch publishes and drains spin rings in batches.
//
// A cross-core message costs a cache-line transfer for the data and, with
// the Cursors protocol, another for the cursor. Batching amortises the
// second: Publisher claims n slots, the caller fills them in place, and
// Commit publishes them all with one release store. Drain is the consumer's
// half, the "smart batching" of the LMAX Disruptor: it takes everything
// available (up to a bound) and frees it with one head store, so a consumer
// that falls behind catches up in bigger, cheaper steps.
//
// Batcher adds flush policies on top: flush when a batch is full, when the
// caller says so, or when the oldest unflushed message is older than a
// bound measured in TSC ticks (no clock call per message).
package batch
