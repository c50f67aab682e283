// Package topic is named publish–subscribe between processes: one
// Publisher, any number of Subscribers (256 and more) in other processes,
// found by name. Messages are fixed-layout structs (layout.Of) in a ring
// of slots in a sealed memfd that only the publisher can write: the
// subscribers map it read-only, and F_SEAL_FUTURE_WRITE stops any process
// from making a writable mapping of it later.
//
// Delivery is chosen at Create: Lossy — the publisher never waits, and a
// subscriber it laps learns exactly how many messages it lost and carries
// on from the oldest the ring still holds that the publisher is not about
// to overwrite (resumeSkip) — or Reliable — the publisher waits, through
// its idler, for the slowest live subscriber; a subscriber whose process
// dies is let go at the next housekeeping round (1 ms), one that does not
// move for StallTimeout is evicted and told so (ErrEvicted). History N
// gives a late joiner up to the last N messages first (on a reliable
// topic at most Capacity less an eighth, which the publisher does not
// rewrite before it has seen the joiner: Subscriber.join, Publisher.room).
//
// Poll hands its handler the subscriber's own copy of each message;
// PollInPlace, on a reliable topic, the slot itself (read-only shared
// memory the publisher does not rewrite until the handler returns).
// Acquire and At read a run of messages with no call per message — in
// place on a reliable topic, until the next Acquire gives them back — for
// loops where a handler's call is most of the cost (several subscriptions
// polled by one thread).
//
// A topic is its publisher's uid's (the directory's mode, and the name's
// link to the publisher's descriptor); Options.Share admits other uids and
// gids, which subscribe in SharedDir through the publisher's socket
// (share.go, remote.go); such a subscriber refuses, with ErrPermission, a
// publisher that does not run as the uid owning that directory. What other
// uids' subscribers hold of a publisher — set-ups under way, segments
// mapped, connections open — is bounded for each uid and each process
// (share_kept.go): beyond its share a subscriber gets ErrBusy. A uid whose
// subscribers keep stalling a reliable topic is let go whole for a while
// (share_stall.go).
//
// A subscriber with nothing to read may spin on Poll, or sleep in the
// kernel with Wait until the publisher wakes it (wait.go). CreateRaw and
// SubscribeRaw handle topics whose type is known only at run time, as byte
// slices checked against the topic's schema (raw.go); CreateRecords and
// SubscribeRecords, topics of variable-length typed records up to a
// maximum size (records.go).
//
// # Shared memory
//
// The topic segment (the publisher's, named NAME in the topic directory):
//
//	+------------------------------------------------+
//	| header (128 B): magic "SPINTOPC", version,     |  0
//	| policy, capacity, stride, message size,        |
//	| history, schema offset and length              |
//	+------------------------------------------------+
//	| tail (uint64): messages published              |  128  publisher, every publish
//	+------------------------------------------------+
//	| evictions (uint64) and 256 evicted tokens      |  192  publisher, rarely
//	+------------------------------------------------+
//	| latency stamp: position+1, TSC ticks           |  2304 publisher, 1 in StampEvery
//	+------------------------------------------------+
//	| slot 0 … slot capacity-1                       |  4096
//	|   sequence (uint64): position+1 once written,  |
//	|   0 while being rewritten; then the message    |
//	+------------------------------------------------+
//	| the message type's schema text                 |
//
// Each subscribing process has one subscriber segment per topic (named
// NAME~sPID.N beside it): a header line and 64 cells of 64 bytes, one per
// Subscriber, holding its random token, the publisher epoch it follows
// and its position (the next sequence it reads). A subscriber writes
// nothing else; the publisher maps that segment read-only (it is sealed
// F_SEAL_FUTURE_WRITE, as the topic segment is) and checks every
// position it reads: one beyond the tail, which no honest subscriber
// writes, evicts that subscriber alone, with a logged reason; one behind
// what a reliable publisher kept (a joiner's first, read late) counts as
// the oldest kept, so it holds the publisher until it moves or
// StallTimeout evicts it.
//
// The bell (named NAME~b, with the topic's epoch): one page the publisher
// makes and subscribers map writable (other uids get its descriptor with
// the topic's through the share socket). A subscriber about to sleep in Wait
// rings it (a word set to 1); the publisher, which loads the word at
// every publish, clears it and wakes the sleepers, so that it makes a
// system call only for the first publish after someone went to sleep.
// Anyone who may write the directory may ring it: at worst a wake-up per
// publish.
//
// A subscriber costs 64 bytes of shared memory beyond the message buffer,
// plus one 8 KiB segment per subscribing process and topic.
//
// One goroutine per process looks after every publisher in it
// (keeper.go): in the directory for new subscriber segments every 10 ms,
// unless it has not changed since the last look (scan.go), and every
// millisecond for subscriber processes that died: each has a pidfd in one
// epoll set (named.go). It allocates nothing at rest. A look lists at
// most 4096 entries and tries at most 64 names, and a name refused for
// good (not a sealed subscriber segment of a trusted owner) is not tried
// again while the same file bears it: names planted by whoever may write
// the directory cost the publisher little.
//
// # Ordering
//
// A slot is a seqlock: the publisher stores 0 in its sequence, writes the
// message, then stores position+1 (release). A subscriber loads the
// sequence (acquire), copies the message out, and loads the sequence again:
// if it changed, the publisher lapped it during the copy and the copy is
// discarded. Every subscriber read is bounds-checked; Poll handles at most
// its limit, so a hostile publisher cannot make it loop.
package topic
