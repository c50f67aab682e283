// Command spinbridge carries topics between hosts over NATS: it exports
// local topics to NATS subjects and imports subjects into local topics,
// whatever their message types (package bridge's raw exporters and
// importers), with the layouts checked by fingerprint on the way.
//
//	spinbridge -embedded -export ticks=md.ticks                 # host A: a NATS server in-process
//	spinbridge -nats nats://hostA:4222 -import md.ticks=ticks   # host B
//
// An imported topic is created with the schema its exporter hands out
// (bridge.FetchSchema), so host B needs no Go type for it; its local
// subscribers are checked against that layout as usual. The exporter's
// message size times -capacity may not exceed 1 GiB (the topic is mapped
// populated, and subscribers accept no larger one by default). -durable NAME
// carries the topics through JetStream (the embedded server then runs
// it, storing in -store): a restarted exporter resumes after the last
// batch stored, a restarted importer after the last it acknowledged.
// -stat registers every exporter and importer with package stat, so that
// spinstat shows their rates and errors; -every prints their counters.
// Ctrl-C (SIGINT) or SIGTERM stops it.
package main
