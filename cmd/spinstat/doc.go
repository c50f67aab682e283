// Command spinstat shows every spinwire endpoint on the host that the
// caller may read — rings, logs, MPSC queues, topics, link servers and
// connections registered with package stat — with rates, backlog, loss
// and errors.
//
//	spinstat              one table: two scans -i apart (default 1 s)
//	spinstat -watch       the table, refreshed every -i, like top
//	spinstat NAME         every counter of the endpoints called NAME, and
//	                      their latency percentiles
//	spinstat -json        one JSON object per endpoint
//	spinstat -listen ADDR Prometheus metrics on http://ADDR/metrics
//
// It reads the registry directory (-dir, default stat.DefaultDir) — this
// uid's registries — and the registries other uids share with it
// (stat.Options.Share) through the share directory (-share, default
// stat.DefaultShareDir), and maps each segment read-only: it never slows a
// writer. A segment a hostile process wrote garbage into is listed as
// corrupt; a registry whose policy does not admit this uid is not shown.
package main
