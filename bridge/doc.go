// Package bridge carries topics between hosts over NATS: Export sends a
// local topic's messages to a NATS subject, in batches; Import publishes
// what arrives on a subject into a local topic. Everything stays in shared
// memory on each host; only the hop between hosts goes through NATS.
//
//	exp, err := bridge.Export[Tick](nc, "ticks", bridge.ExportOptions{Subject: "md.ticks"})
//	go exp.Run(ctx)                                   // host A
//	imp, err := bridge.Import[Tick](nc, "md.ticks", pub, bridge.ImportOptions{}) // host B
//
// ExportService and RemoteConn do the same for link services, through
// NATS request/reply (service.go); Dial picks the local link connection
// when the service is on this host.
//
// # Wire
//
// One NATS message carries Count messages of T, back to back, as they lie
// in memory (fixed layout, layout.Of; both hosts must share the byte order:
// amd64 and arm64 are little-endian), and these headers:
//
//	Spinwire-Fingerprint  T's layout fingerprint, 16 hex digits
//	Spinwire-Type         T's name, for the error when it differs
//	Spinwire-Source       the topic publisher's epoch, 16 hex digits
//	Spinwire-Seq          the first message's position in the topic (decimal)
//	Spinwire-Count        messages in the body (decimal, 1…MaxCount)
//
// Sequence numbers are the topic's own positions, so a lapped exporter's
// loss shows as a gap, and an exporter that restarts and sends again what
// the topic's History gives it is recognised: the importer drops it as a
// duplicate. A restarted topic publisher is a new source.
//
// # Durable mode
//
// With ExportOptions.Durable the exporter publishes to a JetStream stream
// and resumes after the last batch stored; with ImportOptions.Durable the
// importer reads through a durable consumer and acknowledges each batch
// once published locally (durable.go). An importer whose local publish
// fails (the topic's publisher closed) stops: Err says why, and a durable
// one leaves the batch, and what follows, to the consumer's next importer.
//
// # Import is hostile-safe
//
// An importer treats every NATS message as hostile: missing or malformed
// headers, a body that is not Count × size of T, or a Count above MaxCount
// are refused (ImportStats.Malformed); a fingerprint other than T's is
// refused (Mismatched). Per source it keeps the next sequence expected: a
// batch wholly before it (a replay, a reordered batch) is dropped and
// counted (Duplicates), one that overlaps it is trimmed, and one past it
// counts the gap as Lost. It tracks at most MaxSources sources; when a
// new one comes beyond that it forgets one (Forgotten). None of this
// allocates per message or writes anything into the local topic but
// whole, well-formed messages of T.
package bridge
