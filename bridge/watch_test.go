package bridge

import (
	"os"
	"testing"
	"time"

	"github.com/spinwire/spinwire/link"
	"github.com/spinwire/spinwire/stat"
)

// TestWatch: the exporter, the importer and a service show in the stat
// registry with their counters, as spinstat reads them.
func TestWatch(t *testing.T) {
	ns := startNATS(t)
	p := newPipeline(t, ns, "md.ticks")
	dirS := t.TempDir()
	gatewayOn(t, dirS)
	svc, err := ExportService[order, ack](connect(t, ns), "gw", ServiceOptions{Subject: "svc.gw", Dial: link.DialOptions{Dir: dirS}})
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	dir := t.TempDir()
	reg, err := stat.NewRegistry(stat.Options{Dir: dir, Interval: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	for _, w := range []func() (*stat.Endpoint, error){
		func() (*stat.Endpoint, error) { return p.exp.Watch(reg, "out") },
		func() (*stat.Endpoint, error) { return p.imp.Watch(reg, "in") },
		func() (*stat.Endpoint, error) { return svc.Watch(reg, "svc") },
	} {
		if _, err := w(); err != nil {
			t.Fatal(err)
		}
	}
	for i := range uint64(100) {
		p.pubA.Publish(&tick{Seq: i, Price: int64(i) * 3})
	}
	receive(t, p.subB, 0, 100, 10*time.Second)
	want := map[string]struct {
		kind    stat.Kind
		counter string
		n       uint64
	}{"out": {stat.KindBridgeExport, "published", 100}, "in": {stat.KindBridgeImport, "received", 100}, "svc": {stat.KindBridgeService, "requests", 0}}
	end := time.Now().Add(5 * time.Second)
	for {
		procs, err := stat.Scan(dir)
		if err != nil {
			t.Fatal(err)
		}
		ok := 0
		for _, pr := range procs {
			if int(pr.PID) != os.Getpid() {
				continue
			}
			for _, e := range pr.Endpoints {
				w, found := want[e.Name]
				if v, has := e.Counter(w.counter); found && e.Kind == w.kind && has && v == w.n {
					ok++
				}
			}
		}
		if ok == len(want) {
			return
		}
		if time.Now().After(end) {
			t.Fatalf("scan: %+v", procs)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
