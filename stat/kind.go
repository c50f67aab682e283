package stat

import "strconv"

// Kind is what an endpoint is; it says what its counters mean.
type Kind uint32

// The kinds of endpoint. Their counters, in order, are CounterNames'.
const (
	KindRing          Kind = 1 + iota // spin.Ring
	KindLog                           // spin.Log (positions in bytes)
	KindMPSC                          // spin.MPSC
	KindLinkServer                    // link.Server
	KindLinkConn                      // link.Conn
	KindTopicPub                      // a topic's publisher
	KindTopicSub                      // a topic's subscriber
	KindCustom                        // counters the program names itself (Register)
	KindBridgeExport                  // a topic exported to NATS (bridge.Exporter)
	KindBridgeImport                  // a NATS subject imported into a topic (bridge.Importer)
	KindBridgeService                 // a link service answering NATS requests (bridge.Service)
	kinds
)

var kindNames = [kinds]string{
	KindRing: "ring", KindLog: "log", KindMPSC: "mpsc", KindLinkServer: "link-server",
	KindLinkConn: "link-conn", KindTopicPub: "topic-pub", KindTopicSub: "topic-sub", KindCustom: "custom",
	KindBridgeExport: "bridge-export", KindBridgeImport: "bridge-import", KindBridgeService: "bridge-service",
}

// String returns the kind's name, or "kind(N)" for one this build does
// not know (a newer writer, or a hostile one).
func (k Kind) String() string {
	if k > 0 && k < kinds {
		return kindNames[k]
	}
	return "kind(" + strconv.FormatUint(uint64(k), 10) + ")"
}

// CounterNames returns the names of kind's counters, in order; the rest
// of the Counters are unused. Rates are taken of "consumed", "published",
// "requests" and "received"; "backlog" and "lag" are levels.
func CounterNames(k Kind) []string {
	switch k {
	case KindRing, KindMPSC:
		return []string{"consumed", "published", "capacity"}
	case KindLog:
		return []string{"consumed_bytes", "published_bytes", "capacity_bytes"}
	case KindLinkServer:
		return []string{"conns", "procs", "accepted", "refused", "requests", "dropped", "closed",
			"accept_errors", "refused_policy", "refused_busy", "refused_malformed", "refused_version",
			"refused_mismatch", "refused_full", "arenas", "deferred", "replies", "late_replies",
			"pushes", "push_full", "push_gone", "kicked"}
	case KindLinkConn:
		return []string{"redials", "corrupt", "parks", "stuck", "timeouts", "attempts"}
	case KindTopicPub:
		return []string{"published", "subscribers", "evicted", "refused"}
	case KindTopicSub:
		return []string{"received", "lost", "lag"}
	case KindBridgeExport:
		return []string{"published", "batches", "lost"}
	case KindBridgeImport:
		return []string{"received", "batches", "lost", "duplicates", "malformed", "mismatched", "forgotten", "errors"}
	case KindBridgeService:
		return []string{"requests", "refused", "failed"}
	}
	return nil
}
