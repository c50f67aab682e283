package bridge

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/spinwire/spinwire/topic"
)

type tick struct {
	Seq   uint64
	Price int64
	Qty   uint32
	_     [4]byte
}

// startNATS runs an embedded NATS server on a random port for the test.
func startNATS(t testing.TB) *server.Server {
	return runNATS(t, &server.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true})
}

// runNATS runs an embedded NATS server with options o until the test
// ends, once it is ready for connections.
func runNATS(t testing.TB, o *server.Options) *server.Server {
	t.Helper()
	s, err := server.NewServer(o)
	if err != nil {
		t.Fatal(err)
	}
	go s.Start()
	if !s.ReadyForConnections(5 * time.Second) {
		t.Fatal("NATS server not ready")
	}
	t.Cleanup(s.Shutdown)
	return s
}

func connect(t testing.TB, s *server.Server) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(s.ClientURL(), nats.ReconnectWait(20*time.Millisecond), nats.MaxReconnects(-1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// pipeline: topic "a" on "host A" → Export → NATS → Import → topic "b"
// on "host B", each host with a directory of its own; everything closes
// with the test.
type pipeline[T any] struct {
	dirA string
	pubA *topic.Publisher[T]
	pubB *topic.Publisher[T]
	subB *topic.Subscriber[T]
	exp  *Exporter[T]
	imp  *Importer[T]
}

// inBackground calls send(0…n-1) from a goroutine of its own, which the
// test's cleanup stops and waits for — before the topics close, as
// cleanups run last registered first, so that no Publish races Close.
func inBackground(tb testing.TB, n uint64, send func(i uint64)) {
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for i := range n {
			select {
			case <-stop:
				return
			default:
			}
			send(i)
		}
	}()
	tb.Cleanup(func() { close(stop); <-done })
}

// twoHosts makes topic a (optsA) and topic b (optsB), each in a directory
// of its own, and a subscriber of b.
func twoHosts[T any](tb testing.TB, optsA, optsB topic.Options) *pipeline[T] {
	tb.Helper()
	p := &pipeline[T]{dirA: tb.TempDir()}
	optsA.Dir, optsB.Dir = p.dirA, tb.TempDir()
	var err error
	if p.pubA, err = topic.Create[T]("a", optsA); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { p.pubA.Close() })
	if p.pubB, err = topic.Create[T]("b", optsB); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { p.pubB.Close() })
	if p.subB, err = topic.Subscribe[T]("b", topic.SubscribeOptions{Dir: optsB.Dir}); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { p.subB.Close() })
	return p
}

// importOn imports subject on nc into topic b.
func (p *pipeline[T]) importOn(tb testing.TB, nc *nats.Conn, subject string, opts ImportOptions) {
	tb.Helper()
	var err error
	if p.imp, err = Import(nc, subject, p.pubB, opts); err != nil {
		tb.Fatal(err)
	}
	imp := p.imp
	tb.Cleanup(func() { imp.Close() })
}

// exportOn exports topic a on nc (opts' Subscribe.Dir set to a's) and
// runs the exporter until the test ends.
func (p *pipeline[T]) exportOn(tb testing.TB, nc *nats.Conn, opts ExportOptions) {
	tb.Helper()
	opts.Subscribe.Dir = p.dirA
	var err error
	if p.exp, err = Export[T](nc, "a", opts); err != nil {
		tb.Fatal(err)
	}
	runExporter(tb, p.exp.RawExporter)
}

// runExporter runs e until the test ends.
func runExporter(tb testing.TB, e *RawExporter) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	tb.Cleanup(func() { cancel(); <-done })
}

// reliable is the topic options of most tests: reliable, capacity slots.
func reliable(capacity int) topic.Options {
	return topic.Options{Policy: topic.Reliable, Capacity: capacity, StallTimeout: 30 * time.Second}
}

// newPipeline is the tests' pipeline of ticks through server s on subject.
func newPipeline(t *testing.T, s *server.Server, subject string) *pipeline[tick] {
	t.Helper()
	p := twoHosts[tick](t, reliable(1024), reliable(1<<16))
	p.importOn(t, connect(t, s), subject, ImportOptions{Logf: t.Logf})
	p.exportOn(t, connect(t, s), ExportOptions{Subject: subject})
	return p
}

// receive takes n messages from sub within d, checking their order from
// first.
func receive(t *testing.T, sub *topic.Subscriber[tick], first, n uint64, d time.Duration) {
	t.Helper()
	want := first
	end := time.Now().Add(d)
	for want < first+n && time.Now().Before(end) {
		k, err := sub.Poll(func(m *tick) {
			if m.Seq != want || m.Price != int64(want)*3 {
				t.Fatalf("got %+v, want seq %d", *m, want)
			}
			want++
		}, 0)
		if err != nil {
			t.Fatal(err)
		}
		if k == 0 {
			time.Sleep(50 * time.Microsecond)
		}
	}
	if want != first+n {
		t.Fatalf("received %d of %d", want-first, n)
	}
}

// TestExportImport: every message published on host A's topic arrives, in
// order, on host B's, in batches.
func TestExportImport(t *testing.T) {
	p := newPipeline(t, startNATS(t), "md.ticks")
	const n = 20_000
	inBackground(t, n, func(i uint64) { p.pubA.Publish(&tick{Seq: i, Price: int64(i) * 3, Qty: 1}) })
	receive(t, p.subB, 0, n, 20*time.Second)
	es, is := p.exp.Stats(), p.imp.Stats()
	if es.Messages != n || es.Lost != 0 || is.Messages != n || is.Lost != 0 || is.Duplicates != 0 || is.Malformed != 0 {
		t.Fatalf("export %+v, import %+v", es, is)
	}
	if es.Batches >= n || is.Batches != es.Batches {
		t.Fatalf("no batching: export %+v, import %+v", es, is)
	}
}

// TestImportHostile: foreign, truncated and mistyped NATS messages on an
// imported subject are refused and counted; replayed and reordered
// batches are dropped, overlapping ones trimmed, gaps counted; only whole
// messages of the right type reach the topic, in order.
func TestImportHostile(t *testing.T) {
	s := startNATS(t)
	p := newPipeline(t, s, "md.ticks")
	nc := connect(t, s)
	sc := p.exp.schema
	send := func(fp, source, seq uint64, count int, body []byte, hdr bool) {
		m := nats.NewMsg("md.ticks")
		if hdr {
			encodeHeader(m.Header, fp, "tick", source, seq, count)
		}
		m.Data = body
		if err := nc.PublishMsg(m); err != nil {
			t.Fatal(err)
		}
	}
	ticks := func(from, n uint64) []byte {
		var b []byte
		for i := from; i < from+n; i++ {
			v := tick{Seq: i, Price: int64(i) * 3}
			b = append(b, unsafe.Slice((*byte)(unsafe.Pointer(&v)), unsafe.Sizeof(v))...)
		}
		return b
	}
	fp := sc.Fingerprint
	send(fp, 1, 0, 4, ticks(0, 4), false)     // no headers: malformed
	send(fp, 1, 0, 4, ticks(0, 4)[:70], true) // truncated: malformed
	send(fp, 1, 0, 0, nil, true)              // empty: malformed
	send(fp, 1, 0, MaxCount+1, nil, true)     // too many: malformed
	send(fp^1, 1, 0, 4, ticks(0, 4), true)    // another type: mismatched
	send(fp, 1, 0, 4, ticks(0, 4), true)      // 0…3
	send(fp, 1, 0, 4, ticks(0, 4), true)      // replayed: 4 duplicates
	send(fp, 1, 2, 4, ticks(2, 4), true)      // overlaps: 2 duplicates, 4…5 published
	send(fp, 1, 9, 2, ticks(9, 2), true)      // gap: 6…8 lost, 9…10
	send(fp, 1, 7, 2, ticks(7, 2), true)      // reordered, late: 2 duplicates
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	want := []uint64{0, 1, 2, 3, 4, 5, 9, 10}
	var got []uint64
	end := time.Now().Add(10 * time.Second)
	for len(got) < len(want) && time.Now().Before(end) {
		p.subB.Poll(func(m *tick) { got = append(got, m.Seq) }, 0)
		time.Sleep(time.Millisecond)
	}
	if len(got) != len(want) {
		t.Fatalf("received %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("received %v, want %v", got, want)
		}
	}
	st := p.imp.Stats()
	if st.Malformed != 4 || st.Mismatched != 1 || st.Duplicates != 8 || st.Lost != 3 || st.Messages != 8 {
		t.Fatalf("stats %+v", st)
	}
	// Thousands of publishers on the subject: the importer keeps at most
	// MaxSources of them, forgetting one for each new one beyond.
	const sources = 3 * MaxSources
	before := st.Batches
	for src := range uint64(sources) {
		send(fp, 1000+src, 0, 1, ticks(11, 1), true)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	for end := time.Now().Add(10 * time.Second); p.imp.Stats().Batches < before+sources && time.Now().Before(end); {
		p.subB.Poll(func(*tick) {}, 0)
		time.Sleep(time.Millisecond)
	}
	p.imp.mu.Lock()
	kept := len(p.imp.next)
	p.imp.mu.Unlock()
	if st := p.imp.Stats(); st.Batches != before+sources || kept != MaxSources || st.Forgotten != uint64(sources+1-MaxSources) {
		t.Fatalf("%d sources kept, stats %+v", kept, st)
	}
}

// TestExportOptions: bad options and types are refused.
func TestExportOptions(t *testing.T) {
	nc := connect(t, startNATS(t))
	if _, err := Export[tick](nc, "a", ExportOptions{}); err == nil {
		t.Fatal("no subject accepted")
	}
	if _, err := Export[tick](nc, "a", ExportOptions{Subject: "x", MaxBatch: MaxCount + 1}); err == nil {
		t.Fatal("MaxBatch too large accepted")
	}
	if _, err := Export[*tick](nc, "a", ExportOptions{Subject: "x"}); err == nil {
		t.Fatal("a pointer type accepted")
	}
	if _, err := Export[tick](nc, "missing", ExportOptions{Subject: "x", Subscribe: topic.SubscribeOptions{Dir: t.TempDir()}}); err == nil {
		t.Fatal("a missing topic accepted")
	}
}

// TestExporterClose: an exporter that is not run gives its subscription
// up with Close (a reliable topic stops counting it); Close while Run runs
// changes nothing and says so; Run after Close, and Close after Run, find
// the subscription closed.
func TestExporterClose(t *testing.T) {
	nc := connect(t, startNATS(t))
	p := twoHosts[tick](t, topic.Options{Policy: topic.Reliable}, topic.Options{})
	export := func() *Exporter[tick] {
		t.Helper()
		e, err := Export[tick](nc, "a", ExportOptions{Subject: "x", Subscribe: topic.SubscribeOptions{Dir: p.dirA}})
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	subscribers := func(n int) {
		t.Helper()
		for end := time.Now().Add(5 * time.Second); p.pubA.Stats().Subscribers != n; time.Sleep(time.Millisecond) {
			if time.Now().After(end) {
				t.Fatalf("%d subscribers, want %d", p.pubA.Stats().Subscribers, n)
			}
		}
	}
	e := export()
	subscribers(1)
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	subscribers(0)
	if err := e.Close(); err != topic.ErrClosed {
		t.Fatalf("second Close: %v", err)
	}
	if err := e.Run(context.Background()); err != topic.ErrClosed {
		t.Fatalf("Run after Close: %v", err)
	}
	e = export()
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- e.Run(ctx) }()
	for end := time.Now().Add(10 * time.Second); !e.busy.Load(); time.Sleep(time.Millisecond) {
		if time.Now().After(end) {
			t.Fatal("Run did not start")
		}
	}
	if err := e.Close(); err == nil || !strings.Contains(err.Error(), "cancel its context") {
		t.Fatalf("Close while Run runs: %v", err)
	}
	cancel()
	if err := <-ran; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if err := e.Close(); err != topic.ErrClosed {
		t.Fatalf("Close after Run: %v", err)
	}
	subscribers(0)
}

// TestNATSRestart: the NATS server restarts in the middle of a stream.
// Both sides reconnect by themselves (nats.go), the stream goes on, and
// every message exported is either received, in order, or counted as lost
// by the importer (a gap), never duplicated.
func TestNATSRestart(t *testing.T) {
	s := startNATS(t)
	port := s.Addr().(*net.TCPAddr).Port
	p := newPipeline(t, s, "md.ticks")
	stop := make(chan struct{})
	published := make(chan uint64, 1)
	go func() {
		i := uint64(0)
		defer func() { published <- i }()
		for ; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			p.pubA.Publish(&tick{Seq: i, Price: int64(i) * 3})
			if i%64 == 0 {
				time.Sleep(100 * time.Microsecond)
			}
		}
	}()
	var got, last uint64
	poll := func(d time.Duration) {
		for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(200 * time.Microsecond) {
			p.subB.Poll(func(m *tick) {
				if got > 0 && m.Seq <= last {
					t.Fatalf("seq %d after %d", m.Seq, last)
				}
				last = m.Seq
				got++
			}, 0)
		}
	}
	poll(200 * time.Millisecond)
	before := got
	s.Shutdown()
	s.WaitForShutdown()
	poll(100 * time.Millisecond)
	runNATS(t, &server.Options{Host: "127.0.0.1", Port: port, NoLog: true, NoSigs: true}) // the same port again
	for end := time.Now().Add(10 * time.Second); got == before && time.Now().Before(end); {
		poll(100 * time.Millisecond)
	}
	poll(200 * time.Millisecond)
	after := got
	close(stop)
	<-published
	poll(500 * time.Millisecond)
	st := p.imp.Stats()
	t.Logf("received %d (%d before the restart, %d after), import %+v, export %+v", got, before, after-before, st, p.exp.Stats())
	if before == 0 || after == before {
		t.Fatalf("nothing received before or after the restart: %d, %d", before, after)
	}
	if st.Duplicates != 0 || st.Messages != got || st.Messages+st.Lost != last+1 {
		t.Fatalf("received %d, last seq %d, import %+v", got, last, st)
	}
}

// tick64 is a 64-byte message, the benchmark's.
type tick64 struct {
	Seq   uint64
	Stamp int64
	Body  [6]uint64
}

// BenchmarkExportImport: 64-byte messages from a topic on "host A"
// through Export, an embedded NATS server on loopback and Import into a
// topic on "host B", received there; msgs/s of the whole path, batches of
// up to 64 (target: ≥ 1 M msg/s); through core NATS, and in durable mode
// through a JetStream stream (file storage) and a durable consumer.
func BenchmarkExportImport(b *testing.B) {
	b.Run("mode=core", func(b *testing.B) { benchExportImport(b, startNATS(b), false) })
	b.Run("mode=durable", func(b *testing.B) { benchExportImport(b, startJetStream(b), true) })
}

func benchExportImport(b *testing.B, s *server.Server, durable bool) {
	durableName := ""
	if durable {
		durableName = "bench"
	}
	p := twoHosts[tick64](b, reliable(1<<14), reliable(1<<16))
	p.importOn(b, connect(b, s), "bench", ImportOptions{Durable: durableName})
	p.exportOn(b, connect(b, s), ExportOptions{Subject: "bench", Durable: durable})
	pubA, subB, imp := p.pubA, p.subB, p.imp
	b.ResetTimer()
	start := time.Now()
	inBackground(b, uint64(b.N), func(i uint64) { pubA.Publish(&tick64{Seq: i}) })
	var got uint64
	for got < uint64(b.N) {
		n, err := subB.Poll(func(*tick64) { got++ }, 0)
		if err != nil {
			b.Fatal(err)
		}
		if n == 0 {
			time.Sleep(20 * time.Microsecond)
		}
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
	if st := imp.Stats(); st.Lost != 0 || st.Duplicates != 0 {
		b.Fatalf("import %+v", st)
	}
}

// TestCluster: host A's exporter talks to one NATS server, host B's
// importer to another, the two servers clustered: every message arrives,
// in order.
func TestCluster(t *testing.T) {
	routeOpts := func(port int, routes ...string) *server.Options {
		o := &server.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true,
			Cluster: server.ClusterOpts{Name: "spinwire", Host: "127.0.0.1", Port: port}}
		for _, r := range routes {
			o.Routes = append(o.Routes, server.RoutesFromStr(r)...)
		}
		return o
	}
	s1 := runNATS(t, routeOpts(-1))
	s2 := runNATS(t, routeOpts(-1, "nats://"+s1.ClusterAddr().String()))
	end := time.Now().Add(10 * time.Second)
	for (s1.NumRoutes() == 0 || s2.NumRoutes() == 0) && time.Now().Before(end) {
		time.Sleep(10 * time.Millisecond)
	}
	if s1.NumRoutes() == 0 {
		t.Fatal("the servers did not form a cluster")
	}
	p := twoHosts[tick](t, reliable(0), reliable(1<<16))
	p.importOn(t, connect(t, s2), "md.ticks", ImportOptions{})
	pubA, subB, imp := p.pubA, p.subB, p.imp
	// Interest crosses the route asynchronously, in order: once a probe
	// subscribed on server 2 after the import gets what server 1 sends,
	// server 1 knows of the import's subscription too.
	ncA, probe := connect(t, s1), connect(t, s2)
	got := make(chan struct{}, 1)
	ps, _ := probe.Subscribe("probe", func(*nats.Msg) {
		select {
		case got <- struct{}{}:
		default:
		}
	})
	probe.Flush()
	for ok := false; !ok; {
		ncA.Publish("probe", nil)
		select {
		case <-got:
			ok = true
		case <-time.After(10 * time.Millisecond):
			if time.Now().After(end) {
				t.Fatal("no route from server 1 to server 2")
			}
		}
	}
	ps.Unsubscribe()
	p.exportOn(t, ncA, ExportOptions{Subject: "md.ticks"})
	const n = 5000
	inBackground(t, n, func(i uint64) { pubA.Publish(&tick{Seq: i, Price: int64(i) * 3}) })
	receive(t, subB, 0, n, 20*time.Second)
	if st := imp.Stats(); st.Lost != 0 || st.Duplicates != 0 {
		t.Fatalf("import %+v", st)
	}
}

// BenchmarkBridgeLatency: at a low rate (one message every 200 µs), the
// time from a publish on host A's topic to its receipt from host B's
// topic through Export, an embedded NATS server and Import, against a
// bare NATS publish to a subscriber on another connection, the two
// alternating message by message in one run. Reports each one's p50 and
// p99 and the bridge's added p50 (target: ≤ 20 µs).
func BenchmarkBridgeLatency(b *testing.B) {
	s := startNATS(b)
	p := twoHosts[tick64](b, topic.Options{Capacity: 1024}, topic.Options{Capacity: 1024})
	p.importOn(b, connect(b, s), "lat", ImportOptions{})
	p.exportOn(b, connect(b, s), ExportOptions{Subject: "lat"})
	pubA, subB := p.pubA, p.subB
	ncPub, ncSub := connect(b, s), connect(b, s)
	raw, err := ncSub.SubscribeSync("raw")
	if err != nil {
		b.Fatal(err)
	}
	ncSub.Flush()
	bridged, bare := make([]float64, 0, b.N), make([]float64, 0, b.N)
	payload := make([]byte, unsafe.Sizeof(tick64{}))
	b.ResetTimer()
	for i := range b.N {
		time.Sleep(200 * time.Microsecond)
		t0 := time.Now()
		pubA.Publish(&tick64{Seq: uint64(i)})
		for got := false; !got; { // everything here shares the two CPUs: no spinning
			if subB.Poll(func(*tick64) { got = true }, 0); !got {
				subB.Wait(time.Millisecond)
			}
		}
		bridged = append(bridged, float64(time.Since(t0).Nanoseconds()))
		time.Sleep(200 * time.Microsecond)
		t0 = time.Now()
		ncPub.Publish("raw", payload)
		if _, err := raw.NextMsg(5 * time.Second); err != nil {
			b.Fatal(err)
		}
		bare = append(bare, float64(time.Since(t0).Nanoseconds()))
	}
	b.StopTimer()
	q := func(v []float64, p float64) float64 { return v[int(p*float64(len(v)-1))] }
	slices.Sort(bridged)
	slices.Sort(bare)
	b.ReportMetric(q(bridged, 0.5)/1e3, "bridge-p50-µs")
	b.ReportMetric(q(bridged, 0.99)/1e3, "bridge-p99-µs")
	b.ReportMetric(q(bare, 0.5)/1e3, "nats-p50-µs")
	b.ReportMetric(q(bare, 0.99)/1e3, "nats-p99-µs")
	b.ReportMetric((q(bridged, 0.5)-q(bare, 0.5))/1e3, "added-p50-µs")
}

// TestRaw: a raw exporter of a typed topic, and a raw importer into a
// topic created from the schema the exporter hands out (FetchSchema):
// the messages arrive whole; a typed Export of another type is refused
// naming the field; FetchSchema of a subject nobody exports times out.
func TestRaw(t *testing.T) {
	s := startNATS(t)
	dirA, dirB := t.TempDir(), t.TempDir()
	pubA, err := topic.Create[tick]("a", topic.Options{Dir: dirA, Policy: topic.Reliable, StallTimeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer pubA.Close()
	if _, err := Export[tick64](connect(t, s), "a", ExportOptions{Subject: "x", Subscribe: topic.SubscribeOptions{Dir: dirA}}); err == nil {
		t.Fatal("a typed export of another type")
	}
	exp, err := ExportRaw(connect(t, s), "a", ExportOptions{Subject: "md.raw", Subscribe: topic.SubscribeOptions{Dir: dirA}})
	if err != nil {
		t.Fatal(err)
	}
	runExporter(t, exp)
	nc := connect(t, s)
	sc, err := FetchSchema(nc, "md.raw", 5*time.Second)
	if err != nil || sc.Name != "bridge.tick" {
		t.Fatalf("schema: %v %+v", err, sc)
	}
	pubB, err := topic.CreateRaw("b", sc, topic.Options{Dir: dirB, Policy: topic.Reliable, StallTimeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer pubB.Close()
	subB, err := topic.Subscribe[tick]("b", topic.SubscribeOptions{Dir: dirB})
	if err != nil {
		t.Fatal(err)
	}
	defer subB.Close()
	imp, err := ImportRaw(nc, "md.raw", pubB, ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer imp.Close()
	for i := range uint64(1000) {
		pubA.Publish(&tick{Seq: i, Price: int64(i) * 3})
	}
	receive(t, subB, 0, 1000, 10*time.Second)
	if _, err := FetchSchema(nc, "nobody", 50*time.Millisecond); err == nil {
		t.Fatal("a schema from nobody")
	}
}

// TestImportOtherType: batches of a type of another size are counted as
// mismatched, not malformed, and the log names the field that differs
// once the exporter has said what its type is.
func TestImportOtherType(t *testing.T) {
	s := startNATS(t)
	dirA, dirB := t.TempDir(), t.TempDir()
	pubA, err := topic.Create[tick64]("a", topic.Options{Dir: dirA})
	if err != nil {
		t.Fatal(err)
	}
	defer pubA.Close()
	exp, err := Export[tick64](connect(t, s), "a", ExportOptions{Subject: "md.other", Subscribe: topic.SubscribeOptions{Dir: dirA}})
	if err != nil {
		t.Fatal(err)
	}
	runExporter(t, exp.RawExporter)
	pubB, err := topic.Create[tick]("b", topic.Options{Dir: dirB})
	if err != nil {
		t.Fatal(err)
	}
	defer pubB.Close()
	logged := make(chan string, 4)
	imp, err := Import(connect(t, s), "md.other", pubB, ImportOptions{Logf: func(f string, a ...any) { logged <- fmt.Sprintf(f, a...) }})
	if err != nil {
		t.Fatal(err)
	}
	defer imp.Close()
	pubA.Publish(&tick64{Seq: 1})
	for _, want := range []string{"refused batches of \"bridge.tick64\"", "field"} {
		select {
		case line := <-logged:
			if !strings.Contains(line, want) {
				t.Fatalf("log %q lacks %q", line, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("no log line with %q", want)
		}
	}
	if st := imp.Stats(); st.Mismatched != 1 || st.Malformed != 0 {
		t.Fatalf("stats %+v", st)
	}
}
