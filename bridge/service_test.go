package bridge

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/spinwire/spinwire/link"
)

type order struct {
	ID  uint64
	Qty int64
}

type ack struct {
	ID     uint64
	Status uint32
	_      [4]byte
}

type ackV2 struct {
	ID     uint64
	Status uint64
}

// gatewayOn serves "gw" in dir with link: ack.ID = order.ID, Status = Qty.
func gatewayOn(t testing.TB, dir string) *link.Server[order, ack] {
	t.Helper()
	s, err := link.Listen[order, ack]("gw", link.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(func(q *order, r *ack) { *r = ack{ID: q.ID, Status: uint32(q.Qty)} })
	t.Cleanup(func() { s.Close() })
	return s
}

// TestRemoteCall: a link service on "host A", exported on a subject, is
// called from "host B" through NATS with the same types; bridge.Dial picks
// the local connection where the service is local and NATS where not.
func TestRemoteCall(t *testing.T) {
	ns := startNATS(t)
	dirA, dirB := t.TempDir(), t.TempDir()
	gatewayOn(t, dirA)
	svc, err := ExportService[order, ack](connect(t, ns), "gw", ServiceOptions{Subject: "svc.gw", Dial: link.DialOptions{Dir: dirA}})
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	ncB := connect(t, ns)
	remote, err := Dial[order, ack](ncB, "gw", "svc.gw", link.DialOptions{Dir: dirB})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := remote.(*RemoteConn[order, ack]); !ok {
		t.Fatalf("host B got %T, want a RemoteConn", remote)
	}
	local, err := Dial[order, ack](ncB, "gw", "svc.gw", link.DialOptions{Dir: dirA})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := local.(*link.Conn[order, ack]); !ok {
		t.Fatalf("host A got %T, want a link.Conn", local)
	}
	ctx := context.Background()
	for i := range uint64(200) {
		for _, c := range []Caller[order, ack]{remote, local} {
			var r ack
			if err := c.CallContext(ctx, &order{ID: i, Qty: 7}, &r); err != nil || r.ID != i || r.Status != 7 {
				t.Fatalf("call %d through %T: %v %+v", i, c, err, r)
			}
		}
	}
	if st := svc.Stats(); st.Calls != 200 || st.Refused != 0 || st.Failed != 0 {
		t.Fatalf("service %+v", st)
	}
}

// TestRemoteCallRefused: a caller of other types, foreign payloads and a
// request without a reply subject are refused and counted; a call while
// the local service is down fails with its link error; the service goes on.
func TestRemoteCallRefused(t *testing.T) {
	ns := startNATS(t)
	dir := t.TempDir()
	srv := gatewayOn(t, dir)
	svc, err := ExportService[order, ack](connect(t, ns), "gw", ServiceOptions{Subject: "svc.gw", Timeout: 100 * time.Millisecond, Dial: link.DialOptions{Dir: dir, FailFast: true}})
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	nc := connect(t, ns)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	wrong, _ := DialRemote[order, ackV2](nc, "svc.gw")
	var r2 ackV2
	if err := wrong.CallContext(ctx, &order{ID: 1}, &r2); !errors.Is(err, ErrRemote) {
		t.Fatalf("other types: %v", err)
	}
	for _, body := range [][]byte{nil, []byte("hello"), make([]byte, 17)} {
		m, err := nc.RequestWithContext(ctx, "svc.gw", body)
		if err != nil || m.Header.Get(hdrError) == "" {
			t.Fatalf("foreign payload %q: %v %v", body, err, m)
		}
	}
	nc.Publish("svc.gw", []byte("no reply subject"))
	nc.Flush()
	good, _ := DialRemote[order, ack](nc, "svc.gw")
	var r ack
	if err := good.CallContext(ctx, &order{ID: 2, Qty: 3}, &r); err != nil || r.ID != 2 {
		t.Fatalf("good call after refusals: %v %+v", err, r)
	}
	srv.Close()
	if err := good.CallContext(ctx, &order{ID: 3}, &r); !errors.Is(err, ErrRemote) {
		t.Fatalf("service down: %v", err)
	}
	time.Sleep(20 * time.Millisecond)
	if st := svc.Stats(); st.Refused != 5 || st.Calls != 1 || st.Failed != 1 {
		t.Fatalf("service %+v", st)
	}
	if _, err := ExportService[order, ack](nc, "gw", ServiceOptions{Dial: link.DialOptions{Dir: dir}}); err == nil {
		t.Fatal("no subject accepted")
	}
	if _, err := DialRemote[*order, ack](nc, "x"); err == nil {
		t.Fatal("a pointer type accepted")
	}
}

// BenchmarkRemoteCall: a link service called through NATS request/reply
// (ExportService, RemoteConn) against a bare nats.go request/reply of the
// same sizes answered by a plain subscriber, same server, the two
// alternating call by call. Reports each one's p50 and their ratio
// (bridge/nats; target: ≤ 1.2).
func BenchmarkRemoteCall(b *testing.B) {
	ns := startNATS(b)
	dir := b.TempDir()
	gatewayOn(b, dir)
	svc, err := ExportService[order, ack](connect(b, ns), "gw", ServiceOptions{Subject: "svc.gw", Dial: link.DialOptions{Dir: dir}})
	if err != nil {
		b.Fatal(err)
	}
	defer svc.Close()
	echo := connect(b, ns)
	reply := make([]byte, 16)
	echo.Subscribe("bare", func(m *nats.Msg) { m.Respond(reply) })
	echo.Flush()
	nc := connect(b, ns)
	ctx := context.Background()
	c, err := DialRemote[order, ack](nc, "svc.gw")
	if err != nil {
		b.Fatal(err)
	}
	q := make([]byte, 16)
	var r ack
	bare, bridged := make([]float64, 0, b.N), make([]float64, 0, b.N)
	b.ResetTimer()
	for range b.N {
		t0 := time.Now()
		if _, err := nc.RequestWithContext(ctx, "bare", q); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if err := c.CallContext(ctx, &order{ID: 1}, &r); err != nil {
			b.Fatal(err)
		}
		bare = append(bare, float64(t1.Sub(t0)))
		bridged = append(bridged, float64(time.Since(t1)))
	}
	b.StopTimer()
	slices.Sort(bare)
	slices.Sort(bridged)
	p, n := bridged[len(bridged)/2], bare[len(bare)/2]
	b.ReportMetric(p/1e3, "bridge-p50-µs")
	b.ReportMetric(n/1e3, "nats-p50-µs")
	b.ReportMetric(p/n, "bridge/nats")
}
