package bridge_test

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/spinwire/spinwire/bridge"
	"github.com/spinwire/spinwire/topic"
)

// Tick is fixed-layout: both hosts compare its fingerprint, batch by
// batch.
type Tick struct {
	Seq   uint64
	Price int64
}

// A topic on "host A" exported to a NATS subject, and the subject
// imported into a topic on "host B": here one process with a NATS server
// of its own, and a directory standing for each host. The exporter sends
// what the topic has in batches; the importer publishes each message into
// B's topic, where B's subscribers read it as a local topic.
func Example() {
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true})
	if err != nil {
		panic(err)
	}
	go ns.Start()
	defer ns.Shutdown()
	ns.ReadyForConnections(5 * time.Second)
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		panic(err)
	}
	defer nc.Close()
	hostA, _ := os.MkdirTemp("", "host-a")
	defer os.RemoveAll(hostA)
	hostB, _ := os.MkdirTemp("", "host-b")
	defer os.RemoveAll(hostB)

	// Host B: the local topic, a subscriber, and the importer feeding it.
	pubB, err := topic.Create[Tick]("ticks", topic.Options{Dir: hostB})
	if err != nil {
		panic(err)
	}
	defer pubB.Close()
	subB, err := topic.Subscribe[Tick]("ticks", topic.SubscribeOptions{Dir: hostB})
	if err != nil {
		panic(err)
	}
	defer subB.Close()
	imp, err := bridge.Import(nc, "md.ticks", pubB, bridge.ImportOptions{})
	if err != nil {
		panic(err)
	}
	defer imp.Close()

	// Host A: the topic and its exporter (a reliable topic waits for it).
	pubA, err := topic.Create[Tick]("ticks", topic.Options{Dir: hostA, Policy: topic.Reliable})
	if err != nil {
		panic(err)
	}
	defer pubA.Close()
	exp, err := bridge.Export[Tick](nc, "ticks", bridge.ExportOptions{Subject: "md.ticks",
		Subscribe: topic.SubscribeOptions{Dir: hostA}})
	if err != nil {
		panic(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- exp.Run(ctx) }()

	for i := range int64(3) {
		pubA.Publish(&Tick{Seq: uint64(i), Price: 100 + i})
	}
	for n, end := 0, time.Now().Add(10*time.Second); n < 3 && time.Now().Before(end); {
		k, _ := subB.Poll(func(t *Tick) { fmt.Println(t.Seq, t.Price) }, 0)
		if n += k; k == 0 {
			subB.Wait(10 * time.Millisecond)
		}
	}
	cancel()
	fmt.Println(<-ran)
	st := imp.Stats()
	fmt.Println(st.Messages, "imported,", st.Lost, "lost,", st.Duplicates, "duplicates")
	// Output:
	// 0 100
	// 1 101
	// 2 102
	// <nil>
	// 3 imported, 0 lost, 0 duplicates
}
