package stat

import (
	"github.com/spinwire/spinwire/layout"
	"github.com/spinwire/spinwire/link"
	"github.com/spinwire/spinwire/spin"
	"github.com/spinwire/spinwire/topic"
)

// The Watch functions register an endpoint whose counters the registry
// samples from the value itself, with nothing added to its hot path. A
// Ring, MPSC or Log is sampled from its shared memory: close its Endpoint
// before unmapping its segment. Link servers and Conns, and topic
// publishers and subscribers, may be closed first (their Stats keep the
// last counts).

// cursors is what a ring-like endpoint gives a sampler.
type cursors interface{ Cursors() (head, tail uint64) }

// typeOf returns T's name and layout fingerprint (0 for a type layout
// refuses: it is only a label here).
func typeOf[T any]() (string, uint64) {
	s, err := layout.Of[T]()
	if err != nil {
		return "", 0
	}
	return s.Name, s.Fingerprint
}

func sampleCursors(c cursors, capacity int) Sampler {
	return func(out *[Counters]uint64) {
		out[0], out[1] = c.Cursors()
		out[2] = uint64(capacity)
	}
}

// WatchRing registers r as name (KindRing): consumed and published are
// its shared head and tail.
func WatchRing[T any](reg *Registry, name string, r *spin.Ring[T]) (*Endpoint, error) {
	t, fp := typeOf[T]()
	return reg.Register(KindRing, name, t, fp, sampleCursors(r, r.Capacity()))
}

// WatchMPSC registers q as name (KindMPSC).
func WatchMPSC[T any](reg *Registry, name string, q *spin.MPSC[T]) (*Endpoint, error) {
	t, fp := typeOf[T]()
	return reg.Register(KindMPSC, name, t, fp, sampleCursors(q, q.Capacity()))
}

// WatchLog registers l as name (KindLog): positions in bytes.
func WatchLog(reg *Registry, name string, l *spin.Log) (*Endpoint, error) {
	return reg.Register(KindLog, name, "bytes", 0, sampleCursors(l, l.Capacity()))
}

// WatchServer registers s as name (KindLinkServer): its Stats. For a
// link.PushServer, pass its Server: its pushes are counted there.
func WatchServer[Req, Resp any](reg *Registry, name string, s *link.Server[Req, Resp]) (*Endpoint, error) {
	t, fp := typeOf[Req]()
	return reg.Register(KindLinkServer, name, t, fp, serverSampler(s))
}

func serverSampler[Req, Resp any](s *link.Server[Req, Resp]) Sampler {
	return func(c *[Counters]uint64) {
		st := s.Stats()
		*c = [Counters]uint64{uint64(st.Conns), uint64(st.Procs), st.Accepted, st.Refused, st.Requests,
			st.Dropped, st.Closed, st.AcceptErrors, st.RefusedPolicy, st.RefusedBusy, st.RefusedMalformed,
			st.RefusedVersion, st.RefusedMismatch, st.RefusedFull, uint64(st.Arenas), st.Deferred, st.Replies, st.LateReplies,
			st.Pushes, st.PushFull, st.PushGone, st.Kicked}
	}
}

// ListenWatched listens as link.Listen does and registers the server as
// name (KindLinkServer): its Stats, and in its endpoint's Histogram the
// service time of one request in link.LatencyEvery per poller
// (link.Options.Latency). The caller closes the Endpoint after the
// server.
func ListenWatched[Req, Resp any](reg *Registry, name, server string, opts link.Options) (*link.Server[Req, Resp], *Endpoint, error) {
	t, fp := typeOf[Req]()
	return watched(reg, KindLinkServer, name, t, fp, func(h *Histogram) (*link.Server[Req, Resp], error) {
		opts.Latency = h
		return link.Listen[Req, Resp](server, opts)
	}, serverSampler[Req, Resp])
}

// watched registers an endpoint, opens what it watches with the
// endpoint's histogram as its latency recorder, and then gives the
// endpoint its sampler; if open fails, the endpoint goes again.
func watched[X any](reg *Registry, kind Kind, name, typ string, fp uint64, open func(*Histogram) (X, error), sampler func(X) Sampler) (X, *Endpoint, error) {
	var none X
	e, err := reg.Register(kind, name, typ, fp, nil)
	if err != nil {
		return none, nil, err
	}
	x, err := open(e.Histogram())
	if err != nil {
		e.Close()
		return none, nil, err
	}
	e.setSampler(sampler(x))
	return x, e, nil
}

// WatchConn registers c as name (KindLinkConn): its Stats. DialWatched
// also records its calls' latency.
func WatchConn[Req, Resp any](reg *Registry, name string, c *link.Conn[Req, Resp]) (*Endpoint, error) {
	t, fp := typeOf[Req]()
	return reg.Register(KindLinkConn, name, t, fp, connSampler(c))
}

func connSampler[Req, Resp any](c *link.Conn[Req, Resp]) Sampler {
	return func(out *[Counters]uint64) {
		st := c.Stats()
		out[0], out[1], out[2], out[3], out[4], out[5] = st.Redials, st.Corrupt, st.Parks, st.Stuck, st.Timeouts, st.Attempts
	}
}

// DialWatched dials server as link.Dial does and registers the Conn as
// name (KindLinkConn), its endpoint's Histogram receiving the latency of
// one Call in link.LatencyEvery (DialOptions.Latency).
func DialWatched[Req, Resp any](reg *Registry, name, server string, opts link.DialOptions) (*link.Conn[Req, Resp], *Endpoint, error) {
	t, fp := typeOf[Req]()
	return watched(reg, KindLinkConn, name, t, fp, func(h *Histogram) (*link.Conn[Req, Resp], error) {
		opts.Latency = h
		return link.Dial[Req, Resp](server, opts)
	}, connSampler[Req, Resp])
}

// WatchPublisher registers a topic's publisher as name (KindTopicPub):
// published, live subscribers, evictions, share connections refused.
func WatchPublisher[T any](reg *Registry, name string, p *topic.Publisher[T]) (*Endpoint, error) {
	t, fp := typeOf[T]()
	return reg.Register(KindTopicPub, name, t, fp, func(c *[Counters]uint64) {
		st := p.Stats()
		c[0], c[1], c[2], c[3] = st.Published, uint64(st.Subscribers), st.Evicted, st.Refused
	})
}

// WatchSubscriber registers a topic subscriber as name (KindTopicSub):
// received (its position), lost, lag — read from its shared cell.
func WatchSubscriber[T any](reg *Registry, name string, s *topic.Subscriber[T]) (*Endpoint, error) {
	t, fp := typeOf[T]()
	return reg.Register(KindTopicSub, name, t, fp, subscriberSampler(s))
}

func subscriberSampler[T any](s *topic.Subscriber[T]) Sampler {
	return func(c *[Counters]uint64) {
		st := s.Stats()
		c[0], c[1], c[2] = st.Received, st.Lost, st.Lag
	}
}

// SubscribeWatched subscribes to topicName as topic.Subscribe does and
// registers the subscriber as name (KindTopicSub), its endpoint's
// Histogram receiving the latency from publish to receipt of the messages
// the publisher stamps (one in topic.StampEvery;
// topic.SubscribeOptions.Latency).
func SubscribeWatched[T any](reg *Registry, name, topicName string, opts topic.SubscribeOptions) (*topic.Subscriber[T], *Endpoint, error) {
	t, fp := typeOf[T]()
	return watched(reg, KindTopicSub, name, t, fp, func(h *Histogram) (*topic.Subscriber[T], error) {
		opts.Latency = h
		return topic.Subscribe[T](topicName, opts)
	}, subscriberSampler[T])
}
