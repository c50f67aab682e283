package bridge

import (
	"context"
	"errors"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/nats-io/nats.go"
	"github.com/spinwire/spinwire/internal/msg"
	"github.com/spinwire/spinwire/layout"
	"github.com/spinwire/spinwire/link"
)

// Services over NATS. A request is one NATS message with Req's bytes as
// they lie in memory and the header Spinwire-Fingerprint: the fingerprint
// of the pair (Req, Resp) (pairPrint). The reply carries Resp's bytes and
// the same header, or no body and Spinwire-Error: why the call failed.

const hdrError = "Spinwire-Error"

// ErrRemote is a remote call's error when the far side failed it: the
// service refused the request, its link call failed, or the reply is not
// a well-formed Resp.
var ErrRemote = errors.New("bridge: remote call failed")

// pairPrint is the fingerprint of a (Req, Resp) pair: both must match.
func pairPrint(req, resp *layout.Schema) uint64 {
	return req.Fingerprint*0x9e3779b97f4a7c15 ^ resp.Fingerprint
}

func schemas[Req, Resp any]() (uint64, error) {
	rq, err := layout.Of[Req]()
	if err != nil {
		return 0, err
	}
	rs, err := layout.Of[Resp]()
	if err != nil {
		return 0, err
	}
	return pairPrint(rq, rs), nil
}

// bytesOf is v's memory as bytes.
func bytesOf[T any](v *T) []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(v)), unsafe.Sizeof(*v))
}

// ServiceOptions configures ExportService.
type ServiceOptions struct {
	Subject string        // the NATS subject; required
	Queue   string        // a NATS queue group, to share the subject among bridges; "" none
	Timeout time.Duration // each local call's deadline (default 1 s)
	Dial    link.DialOptions
}

// Service answers NATS requests on a subject by calling a local link
// service, one call at a time (the subscription's goroutine).
type Service[Req, Resp any] struct {
	sub                    *nats.Subscription
	conn                   *link.Conn[Req, Resp]
	print                  string
	opts                   ServiceOptions
	calls, refused, failed atomic.Uint64
	req                    Req
	resp                   Resp
}

// ServiceStats are a Service's counters.
type ServiceStats struct {
	Calls   uint64 // answered
	Refused uint64 // requests refused: no or another fingerprint, wrong length
	Failed  uint64 // local calls that failed (timeout, server gone)
}

// ExportService dials the local link service name and answers requests on
// opts.Subject with it; the NATS server has the subscription when it
// returns (a flush). The far side calls it with a RemoteConn of the
// same Req and Resp.
func ExportService[Req, Resp any](nc *nats.Conn, name string, opts ServiceOptions) (*Service[Req, Resp], error) {
	fp, err := schemas[Req, Resp]()
	if err != nil {
		return nil, err
	}
	if opts.Subject == "" {
		return nil, msg.Errorf("bridge: service %q: no Subject", name)
	}
	if opts.Timeout <= 0 {
		opts.Timeout = time.Second
	}
	conn, err := link.Dial[Req, Resp](name, opts.Dial)
	if err != nil {
		return nil, err
	}
	s := &Service[Req, Resp]{conn: conn, print: hex16(fp), opts: opts}
	if s.sub, err = nc.QueueSubscribe(opts.Subject, opts.Queue, s.answer); err == nil {
		err = nc.Flush() // the server has the subscription when this returns
	}
	if err != nil {
		if s.sub != nil {
			s.sub.Unsubscribe()
		}
		conn.Close()
		return nil, err
	}
	return s, nil
}

// answer is the NATS callback: one request.
func (s *Service[Req, Resp]) answer(m *nats.Msg) {
	if m.Reply == "" {
		s.refused.Add(1)
		return // nowhere to answer
	}
	r := nats.NewMsg(m.Reply)
	r.Header.Set(hdrFingerprint, s.print)
	if m.Header == nil || m.Header.Get(hdrFingerprint) != s.print || len(m.Data) != int(unsafe.Sizeof(s.req)) {
		s.refused.Add(1)
		r.Header.Set(hdrError, "refused: the request is not of this service's types (fingerprint "+s.print+") or has the wrong length")
		m.RespondMsg(r)
		return
	}
	copy(bytesOf(&s.req), m.Data)
	if err := s.conn.Call(time.Now().Add(s.opts.Timeout), &s.req, &s.resp); err != nil {
		s.failed.Add(1)
		r.Header.Set(hdrError, err.Error())
		m.RespondMsg(r)
		return
	}
	s.calls.Add(1)
	r.Data = bytesOf(&s.resp)
	m.RespondMsg(r)
}

// Stats returns the service's counters; safe from any goroutine.
func (s *Service[Req, Resp]) Stats() ServiceStats {
	return ServiceStats{Calls: s.calls.Load(), Refused: s.refused.Load(), Failed: s.failed.Load()}
}

// Close unsubscribes and closes the link connection.
func (s *Service[Req, Resp]) Close() error {
	err := s.sub.Drain()
	return errors.Join(err, s.conn.Close())
}

// RemoteConn calls a service exported on a NATS subject.
type RemoteConn[Req, Resp any] struct {
	nc      *nats.Conn
	subject string
	print   string
}

// DialRemote returns a RemoteConn for the service exported on subject. It
// sends nothing: a service of other types refuses each call (ErrRemote).
func DialRemote[Req, Resp any](nc *nats.Conn, subject string) (*RemoteConn[Req, Resp], error) {
	fp, err := schemas[Req, Resp]()
	if err != nil {
		return nil, err
	}
	return &RemoteConn[Req, Resp]{nc: nc, subject: subject, print: hex16(fp)}, nil
}

// CallContext sends req through NATS and copies the response into resp;
// it fails with ctx's error, nats.ErrNoResponders when no service listens,
// or an error wrapping ErrRemote when the service failed the call or its
// reply is not a Resp. Safe for concurrent use. Cost: one NATS request
// (BenchmarkRemoteCall).
func (c *RemoteConn[Req, Resp]) CallContext(ctx context.Context, req *Req, resp *Resp) error {
	m := nats.NewMsg(c.subject)
	m.Header.Set(hdrFingerprint, c.print)
	m.Data = bytesOf(req)
	r, err := c.nc.RequestMsgWithContext(ctx, m)
	if err != nil {
		return err
	}
	if why := r.Header.Get(hdrError); why != "" {
		return msg.Errorf("%w: %s", ErrRemote, why)
	}
	if r.Header.Get(hdrFingerprint) != c.print || len(r.Data) != int(unsafe.Sizeof(*resp)) {
		return msg.Errorf("%w: the reply is not a response of this service's types", ErrRemote)
	}
	copy(bytesOf(resp), r.Data)
	return nil
}

// Caller is what link.Conn and RemoteConn have in common.
type Caller[Req, Resp any] interface {
	CallContext(ctx context.Context, req *Req, resp *Resp) error
}

// Dial returns a local link connection to the service name when one
// listens on this host, and otherwise a RemoteConn to subject: the same
// types, whichever side of the network the service is on.
func Dial[Req, Resp any](nc *nats.Conn, name, subject string, opts link.DialOptions) (Caller[Req, Resp], error) {
	c, err := link.Dial[Req, Resp](name, opts)
	if err == nil {
		return c, nil
	}
	if !errors.Is(err, link.ErrNoServer) {
		return nil, err
	}
	return DialRemote[Req, Resp](nc, subject)
}
