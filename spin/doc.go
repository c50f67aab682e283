// Package spin holds the rings that carry fixed-layout messages between
// processes through shared memory, and the ways a consumer waits for them.
//
//   - Ring[T]: single producer, single consumer, fixed-size slots of a
//     fixed-layout T (layout.Of[T]). Two protocols: InSlot (each slot carries
//     its sequence, so "ready" arrives on the data's cache line) and Cursors
//     (producer tail and consumer head in separate 128-byte blocks, each side
//     caching the other's). See ring.go for the descriptor and the
//     benchmarks that chose the default.
//   - Log: single producer, single consumer, variable-length byte records;
//     Records[T] claims and reads the records of one type as a fixed-layout
//     T, so that filling one is a typed copy rather than a memmove call.
//     ClaimN (and Records.ClaimN) claims a batch of records of one size in
//     one call; with a copy that inlines (a typed one, or asm.CopyLine for
//     32–64-byte payloads) the producer's loop makes no call per record,
//     which is what a 64-byte stream needs to keep up with a C producer
//     (BenchmarkLogStream/claimn, typedn). Each record of the batch is
//     taken with At, which writes its header with the payload.
//   - MPSC[T]: many producers (CAS claim), one consumer; a producer that dies
//     between claim and commit is skipped after a timeout.
//   - Idler strategies (NoOp, BusySpin, Yield, Backoff, Park) and
//     cross-process park/wake through a futex word in the ring header: the
//     publisher makes a FUTEX_WAKE only when the consumer has declared itself
//     parked, so publishing to a spinning consumer costs no syscall.
//
// A Ring or Log has one consumer: OpenRing and OpenLog (and ClaimConsumer,
// for a creator that consumes) record the consuming process in the header
// and refuse a second consumer with ErrConsumerTaken while it lives; the
// claim of a process that has died is taken over, and Close gives it back.
// The side that produces into a region it did not create opens it with
// OpenRingProducer or OpenLogProducer.
//
// A consumer loop runs on an agent.Agent (package agent), which locks and
// pins its thread; the rings themselves know nothing of threads or CPUs.
//
// Every value a ring reads from shared memory is hostile input: a cursor or
// sequence that no correct peer could have written stops the ring with
// ErrCorrupt (reported by Err), never a read outside the ring or an endless
// loop. The hot path builds no error values and allocates nothing.
package spin
