// Package fanout is the benchmark behind `pingpong -mode fanout`: one
// publisher (this process) and Subs subscriptions of one topic spread
// over Procs subscriber processes (re-executions of the running binary,
// see ChildIfAsked), each polling its subscriptions in turn from one
// pinned thread, up to pollLimit messages at a time — in place under
// Reliable (topic.Subscriber.Acquire and At), through PollInPlace (which
// copies) under Lossy, each process yielding the CPU when it finds
// nothing if it shares it with others under Reliable (runChild); and, as
// the baseline in the same run, one spin.Ring to one consumer process.
//
// A run has two phases on each: a stream of N messages published flat
// out (the publisher's rate, and what lossy subscribers lost), then Paced
// messages stamped with the TSC one every Gap (the latency from publish
// to receive in an HdrHistogram, each message timed at one subscription,
// in turn over all of them, so that no receipt waits for the others'
// clock reads). Messages are 64 bytes in shared memory.
package fanout
