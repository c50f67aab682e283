package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/spinwire/spinwire/bridge"
	"github.com/spinwire/spinwire/stat"
	"github.com/spinwire/spinwire/topic"
)

// bridgeRun is one run's state: the server, the connection, the
// exporters and importers, what closes them.
type bridgeRun struct {
	c       *config
	out     io.Writer
	srv     *server.Server
	nc      *nats.Conn
	reg     *stat.Registry
	exps    []*bridge.RawExporter
	imps    []*bridge.RawImporter
	names   []string // exporters', then importers'
	cancel  context.CancelFunc
	done    chan error
	closers []func()
}

func (b *bridgeRun) start() error {
	url := b.c.url
	if b.c.embedded {
		var err error
		if url, err = b.embed(); err != nil {
			return err
		}
	}
	nc, err := nats.Connect(url, nats.Name("spinbridge"), nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	if err != nil {
		return fmt.Errorf("connect %s: %w", url, err)
	}
	b.nc = nc
	b.closers = append(b.closers, nc.Close)
	if b.c.stat {
		if b.reg, err = stat.NewRegistry(stat.Options{}); err != nil {
			return err
		}
		b.closers = append(b.closers, func() { b.reg.Close() })
	}
	ctx, cancel := context.WithCancel(context.Background())
	b.cancel, b.done = cancel, make(chan error, len(b.c.exports))
	for _, e := range b.c.exports {
		if err := b.export(ctx, e[0], e[1]); err != nil {
			return err
		}
	}
	for _, i := range b.c.imports {
		if err := b.importTopic(i[0], i[1]); err != nil {
			return err
		}
	}
	return nil
}

// embed starts the NATS server on -listen and returns its URL.
func (b *bridgeRun) embed() (string, error) {
	host, p, err := net.SplitHostPort(b.c.listen)
	if err != nil {
		return "", fmt.Errorf("-listen %q: %w", b.c.listen, err)
	}
	port, err := strconv.Atoi(p)
	if err != nil {
		return "", fmt.Errorf("-listen %q: %w", b.c.listen, err)
	}
	if port == 0 {
		port = server.RANDOM_PORT
	}
	opts := &server.Options{Host: host, Port: port, NoSigs: true, NoLog: true}
	if b.c.durable != "" {
		opts.JetStream, opts.StoreDir = true, b.c.store
		if opts.StoreDir == "" {
			if opts.StoreDir, err = os.MkdirTemp("", "spinbridge-js"); err != nil {
				return "", err
			}
			dir := opts.StoreDir
			b.closers = append(b.closers, func() { os.RemoveAll(dir) })
		}
	}
	if b.srv, err = server.NewServer(opts); err != nil {
		return "", err
	}
	go b.srv.Start()
	if !b.srv.ReadyForConnections(5 * time.Second) {
		return "", fmt.Errorf("the embedded NATS server did not start on %s", b.c.listen)
	}
	b.closers = append(b.closers, func() { b.srv.Shutdown(); b.srv.WaitForShutdown() })
	fmt.Fprintf(b.out, "spinbridge: NATS server at %s (JetStream %v)\n", b.srv.ClientURL(), opts.JetStream)
	return b.srv.ClientURL(), nil
}

// export starts exporting local topic name to subject.
func (b *bridgeRun) export(ctx context.Context, name, subject string) error {
	e, err := bridge.ExportRaw(b.nc, name, bridge.ExportOptions{Subject: subject, Durable: b.c.durable != "",
		Subscribe: topic.SubscribeOptions{Dir: b.c.dir, Wait: b.c.wait}})
	if err != nil {
		return fmt.Errorf("export %s: %w", name, err)
	}
	if err := b.watch(func(reg *stat.Registry) (*stat.Endpoint, error) { return e.Watch(reg, "bridge.export."+name) }); err != nil {
		e.Close() // never run: its subscription goes now
		return err
	}
	// Listed once it runs: close waits for a result from each listed.
	b.exps, b.names = append(b.exps, e), append(b.names, "export "+name+" → "+subject)
	go func() { b.done <- e.Run(ctx) }()
	fmt.Fprintf(b.out, "spinbridge: exporting topic %s (%s) to %s\n", name, e.Schema().Name, subject)
	return nil
}

// maxImportBytes bounds an imported topic's messages: the size of a topic
// segment a subscriber accepts by default (topic.SubscribeOptions.MaxLength).
const maxImportBytes = 1 << 30

// importTopic creates local topic name with the schema of subject's
// exporter and imports the subject into it.
func (b *bridgeRun) importTopic(subject, name string) error {
	sc, err := bridge.FetchSchema(b.nc, subject, b.c.wait)
	if err != nil {
		return err
	}
	// The exporter says how large a message is, and the topic is mapped
	// populated: bound what it can make this process allocate.
	if uint64(sc.Size)*uint64(b.c.capacity) > maxImportBytes {
		return fmt.Errorf("import %s: %d-byte messages (%s) × -capacity %d exceed %d MiB; lower -capacity",
			subject, sc.Size, sc.Name, b.c.capacity, maxImportBytes>>20)
	}
	policy := topic.Lossy
	if b.c.policy == "reliable" {
		policy = topic.Reliable
	}
	pub, err := topic.CreateRaw(name, sc, topic.Options{Dir: b.c.dir, Capacity: b.c.capacity, Policy: policy})
	if err != nil {
		return fmt.Errorf("import into %s: %w", name, err)
	}
	b.closers = append(b.closers, func() { pub.Close() })
	im, err := bridge.ImportRaw(b.nc, subject, pub, bridge.ImportOptions{Durable: b.c.durable,
		Logf: func(f string, a ...any) { fmt.Fprintf(b.out, "spinbridge: "+f+"\n", a...) }})
	if err != nil {
		return fmt.Errorf("import %s: %w", subject, err)
	}
	b.closers = append(b.closers, func() { im.Close() })
	b.imps, b.names = append(b.imps, im), append(b.names, "import "+subject+" → "+name)
	if err := b.watch(func(reg *stat.Registry) (*stat.Endpoint, error) { return im.Watch(reg, "bridge.import."+name) }); err != nil {
		return err
	}
	fmt.Fprintf(b.out, "spinbridge: importing %s (%s) into topic %s\n", subject, sc.Name, name)
	return nil
}

// watch registers an endpoint with -stat's registry, if there is one.
func (b *bridgeRun) watch(register func(*stat.Registry) (*stat.Endpoint, error)) error {
	if b.reg == nil {
		return nil
	}
	ep, err := register(b.reg)
	if err != nil {
		return err
	}
	b.closers = append(b.closers, func() { ep.Close() })
	return nil
}

// report prints the counters every -every until ctx ends or an exporter
// stops.
func (b *bridgeRun) report(ctx context.Context) {
	var tick <-chan time.Time
	if b.c.every > 0 {
		t := time.NewTicker(b.c.every)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return
		case err := <-b.done:
			fmt.Fprintf(b.out, "spinbridge: an exporter stopped: %v\n", err)
			b.done <- err // for close, which counts them
			return
		case <-tick:
			b.print()
		}
	}
}

func (b *bridgeRun) print() {
	for i, e := range b.exps {
		st := e.Stats()
		fmt.Fprintf(b.out, "spinbridge: %s: %d messages in %d batches, %d lost locally\n", b.names[i], st.Messages, st.Batches, st.Lost)
	}
	for i, im := range b.imps {
		st := im.Stats()
		fmt.Fprintf(b.out, "spinbridge: %s: %d messages, %d lost, %d duplicates, %d refused\n", b.names[len(b.exps)+i],
			st.Messages, st.Lost, st.Duplicates, st.Malformed+st.Mismatched)
	}
}

// close stops the exporters, then closes everything else, the last made
// first.
func (b *bridgeRun) close() {
	if b.cancel != nil {
		b.cancel()
		for range b.exps {
			<-b.done
		}
	}
	for i := len(b.closers) - 1; i >= 0; i-- {
		b.closers[i]()
	}
}
