package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	switch err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); {
	case err == nil:
	case errors.Is(err, flag.ErrHelp):
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "spinbridge:", err)
		os.Exit(1)
	}
}

// pairs is a repeatable A=B flag.
type pairs [][2]string

func (p *pairs) String() string { return fmt.Sprint(*p) }
func (p *pairs) Set(v string) error {
	a, b, ok := strings.Cut(v, "=")
	if !ok || a == "" || b == "" {
		return fmt.Errorf("%q: want A=B", v)
	}
	*p = append(*p, [2]string{a, b})
	return nil
}

type config struct {
	url, listen, store, dir, durable, policy string
	embedded, stat                           bool
	exports, imports                         pairs
	capacity                                 int
	wait, every                              time.Duration
}

func parse(args []string, stderr io.Writer) (*config, error) {
	c := &config{}
	fs := flag.NewFlagSet("spinbridge", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.url, "nats", nats.DefaultURL, "the NATS server to connect to")
	fs.BoolVar(&c.embedded, "embedded", false, "start a NATS server in this process, on -listen, and use it")
	fs.StringVar(&c.listen, "listen", "127.0.0.1:4222", "the embedded server's address (port 0: any)")
	fs.StringVar(&c.store, "store", "", "the embedded server's JetStream store with -durable (default: a temporary directory)")
	fs.Var(&c.exports, "export", "TOPIC=SUBJECT: export a local topic (repeatable)")
	fs.Var(&c.imports, "import", "SUBJECT=TOPIC: import a subject into a local topic it creates (repeatable)")
	fs.StringVar(&c.durable, "durable", "", "carry the topics through JetStream; NAME names this importer's durable consumers")
	fs.StringVar(&c.dir, "dir", "", "the topic directory (default: topic.DefaultDir)")
	fs.StringVar(&c.policy, "policy", "lossy", "imported topics' policy: lossy or reliable")
	fs.IntVar(&c.capacity, "capacity", 4096, "imported topics' slots, a power of two")
	fs.DurationVar(&c.wait, "wait", 10*time.Second, "how long to wait for a local topic to export, or for an exporter's schema")
	fs.DurationVar(&c.every, "every", 10*time.Second, "print the counters this often (0: never)")
	fs.BoolVar(&c.stat, "stat", false, "register the exporters and importers for spinstat")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	switch {
	case fs.NArg() > 0:
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	case len(c.exports)+len(c.imports) == 0 && !c.embedded:
		return nil, errors.New("nothing to do: give -export, -import or -embedded")
	case c.policy != "lossy" && c.policy != "reliable":
		return nil, fmt.Errorf("-policy %q: lossy or reliable", c.policy)
	case c.capacity < 2 || c.capacity > 1<<24 || c.capacity&(c.capacity-1) != 0:
		return nil, fmt.Errorf("-capacity %d: a power of two, 2…%d", c.capacity, 1<<24)
	case c.wait < 0:
		return nil, fmt.Errorf("-wait %v: negative", c.wait)
	case c.every < 0:
		return nil, fmt.Errorf("-every %v: negative (0: never)", c.every)
	}
	return c, nil
}

// run is the whole program minus the signals: tests call it.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c, err := parse(args, stderr)
	if err != nil {
		return err
	}
	b := &bridgeRun{c: c, out: stdout}
	defer b.close()
	if err := b.start(); err != nil {
		return err
	}
	b.report(ctx)
	return nil
}
