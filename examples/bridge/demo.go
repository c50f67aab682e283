package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/spinwire/spinwire/bridge"
	"github.com/spinwire/spinwire/link"
	"github.com/spinwire/spinwire/topic"
)

// demo runs both hosts and prints what happened.
func demo(c config, w io.Writer) error {
	url := c.url
	if url == "" {
		s, err := embedded()
		if err != nil {
			return err
		}
		defer s.Shutdown()
		url = s.ClientURL()
		fmt.Fprintf(w, "bridge: embedded NATS server on %s\n", url)
	}
	a, err := newHost(url)
	if err != nil {
		return err
	}
	defer a.close()
	b, err := newHost(url)
	if err != nil {
		return err
	}
	defer b.close()
	stream := streamTicks(a, b, c.n, w)
	calls := callGateway(a, b, c.calls, w)
	if err := <-stream; err != nil {
		return err
	}
	return calls
}

// streamTicks runs the topic half: publisher, local subscriber, exporter
// on host A; importer and subscriber on host B.
func streamTicks(a, b *host, n int, w io.Writer) <-chan error {
	done := make(chan error, 1)
	opts := topic.Options{Policy: topic.Reliable, Capacity: 4096, StallTimeout: 10 * time.Second}
	opts.Dir = a.dir
	pubA, err := topic.Create[Tick]("ticks", opts)
	if err != nil {
		done <- err
		return done
	}
	opts.Dir = b.dir
	pubB, err := topic.Create[Tick]("ticks", opts)
	if err != nil {
		pubA.Close()
		done <- err
		return done
	}
	subA, err1 := topic.Subscribe[Tick]("ticks", topic.SubscribeOptions{Dir: a.dir})
	subB, err2 := topic.Subscribe[Tick]("ticks", topic.SubscribeOptions{Dir: b.dir})
	imp, err3 := bridge.Import(b.nc, "demo.ticks", pubB, bridge.ImportOptions{})
	exp, err4 := bridge.Export[Tick](a.nc, "ticks", bridge.ExportOptions{Subject: "demo.ticks", Subscribe: topic.SubscribeOptions{Dir: a.dir}})
	if err := firstErr(err1, err2, err3, err4); err != nil {
		done <- err
		return done
	}
	ctx, cancel := context.WithCancel(context.Background())
	expDone := make(chan error, 1)
	go func() { expDone <- exp.Run(ctx) }()
	type counts struct{ a, b uint64 }
	got := make(chan counts, 1)
	go func() { // the subscribers, both reading as the ticks come
		a, b := drain(subA, subB, uint64(n), 30*time.Second)
		got <- counts{a, b}
	}()
	go func() {
		defer pubA.Close()
		defer pubB.Close()
		for i := range uint64(n) {
			pubA.Publish(&Tick{Seq: i, Price: 100_0000 + int64(i%200), Qty: 100})
		}
		g := <-got
		gotA, gotB := g.a, g.b
		cancel()
		<-expDone
		imp.Close()
		st := imp.Stats()
		fmt.Fprintf(w, "bridge: host A published %d ticks; host A's subscriber got %d, host B's %d (through NATS in %d batches; lost %d, duplicates %d)\n",
			n, gotA, gotB, st.Batches, st.Lost, st.Duplicates)
		if gotA != uint64(n) || gotB != uint64(n) {
			done <- fmt.Errorf("received %d on A and %d on B of %d", gotA, gotB, n)
			return
		}
		done <- nil
	}()
	return done
}

// drain reads both subscribers until each has n messages or d passes.
func drain(subA, subB *topic.Subscriber[Tick], n uint64, d time.Duration) (uint64, uint64) {
	var gotA, gotB uint64
	for end := time.Now().Add(d); (gotA < n || gotB < n) && time.Now().Before(end); {
		ka, _ := subA.Poll(func(*Tick) { gotA++ }, 0)
		kb, _ := subB.Poll(func(*Tick) { gotB++ }, 0)
		if ka+kb == 0 {
			time.Sleep(50 * time.Microsecond)
		}
	}
	return gotA, gotB
}

// callGateway runs the service half: a link gateway on host A, exported
// on a subject; host B calls it through bridge.Dial.
func callGateway(a, b *host, calls int, w io.Writer) error {
	srv, err := link.Listen[Order, Ack]("gateway", link.Options{Dir: a.dir})
	if err != nil {
		return err
	}
	defer srv.Close()
	go srv.Serve(func(o *Order, r *Ack) { *r = Ack{ID: o.ID, Accepted: 1} })
	svc, err := bridge.ExportService[Order, Ack](a.nc, "gateway", bridge.ServiceOptions{Subject: "demo.gateway", Dial: link.DialOptions{Dir: a.dir}})
	if err != nil {
		return err
	}
	defer svc.Close()
	c, err := bridge.Dial[Order, Ack](b.nc, "gateway", "demo.gateway", link.DialOptions{Dir: b.dir})
	if err != nil {
		return err
	}
	lat := make([]time.Duration, 0, calls)
	ctx := context.Background()
	for i := range uint64(calls) {
		var ack Ack
		t0 := time.Now()
		if err := c.CallContext(ctx, &Order{ID: i, Qty: 100}, &ack); err != nil {
			return err
		}
		lat = append(lat, time.Since(t0))
		if ack.ID != i || ack.Accepted != 1 {
			return fmt.Errorf("order %d: ack %+v", i, ack)
		}
	}
	slices.Sort(lat)
	path := "a local link connection"
	if _, remote := c.(*bridge.RemoteConn[Order, Ack]); remote {
		path = "NATS"
	}
	fmt.Fprintf(w, "bridge: host B called host A's gateway %d times through %s: p50 %v, p99 %v\n",
		calls, path, lat[len(lat)/2], lat[len(lat)*99/100])
	return nil
}

func firstErr(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}
