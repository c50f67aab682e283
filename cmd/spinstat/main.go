package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/spinwire/spinwire/stat"
)

type config struct {
	dir      string
	shareDir string // other uids' shared registries; "-": none
	interval time.Duration
	watch    bool
	json     bool
	listen   string
	name     string
	rounds   int // -watch: refreshes before exiting (0: until killed); for tests
}

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	c, err := parse(args, stderr)
	if err != nil {
		return 2
	}
	if c.listen != "" {
		return serve(c, stderr)
	}
	if err := show(c, stdout); err != nil {
		fmt.Fprintln(stderr, "spinstat:", err)
		return 1
	}
	return 0
}

func parse(args []string, stderr io.Writer) (*config, error) {
	c := &config{}
	fs := flag.NewFlagSet("spinstat", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.dir, "dir", "", "registry directory (default: stat.DefaultDir)")
	fs.StringVar(&c.shareDir, "share", stat.DefaultShareDir, "also read the registries other uids share with this one there (\"-\": none)")
	fs.DurationVar(&c.interval, "i", time.Second, "time between the two scans a rate is taken over; -watch's refresh")
	fs.BoolVar(&c.watch, "watch", false, "refresh the table in place every -i")
	fs.BoolVar(&c.json, "json", false, "one JSON object per endpoint")
	fs.StringVar(&c.listen, "listen", "", "serve Prometheus metrics on ADDR (host:port) at /metrics")
	fs.IntVar(&c.rounds, "rounds", 0, "with -watch: stop after N refreshes (0: never)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: spinstat [-dir D] [-i 1s] [-watch | -json | -listen ADDR] [NAME]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if msg := check(c, fs.Args()); msg != "" {
		fmt.Fprintln(stderr, "spinstat:", msg)
		fs.Usage()
		return nil, flag.ErrHelp
	}
	c.name = fs.Arg(0)
	return c, nil
}

// check says what is wrong with flags c and arguments args, or "".
func check(c *config, args []string) string {
	switch {
	case len(args) > 1:
		return fmt.Sprintf("one endpoint NAME at most, not %q", args)
	case c.interval <= 0:
		return fmt.Sprintf("-i %v: not a positive duration", c.interval)
	case c.rounds < 0:
		return fmt.Sprintf("-rounds %d: 0 (never stop) or more", c.rounds)
	case c.rounds > 0 && !c.watch:
		return "-rounds counts -watch's refreshes: add -watch"
	case c.listen != "" && (c.watch || c.json || len(args) > 0):
		return "-listen serves /metrics until killed: it takes no -watch, -json or NAME"
	}
	return ""
}

// show prints the table (once, or every interval with -watch), the
// details of c.name, or JSON.
func show(c *config, w io.Writer) error {
	prev, err := scan(c.dir, c.shareDir)
	if err != nil {
		return err
	}
	for round := 1; ; round++ {
		time.Sleep(c.interval)
		cur, err := scan(c.dir, c.shareDir)
		if err != nil {
			return err
		}
		rows := diff(prev, cur, c.interval)
		switch {
		case c.json:
			enc := json.NewEncoder(w)
			for _, r := range rows {
				if err := enc.Encode(r); err != nil {
					return err
				}
			}
		case c.name != "":
			writeDetail(w, rows, c.name)
		default:
			if c.watch {
				io.WriteString(w, "\x1b[H\x1b[2J")
			}
			writeTable(w, rows)
		}
		if !c.watch || round == c.rounds {
			return nil
		}
		prev = cur
	}
}

// serve exports the registry to Prometheus until killed.
func serve(c *config, stderr io.Writer) int {
	if err := metricsServer(c).ListenAndServe(); err != nil {
		fmt.Fprintln(stderr, "spinstat:", err)
		return 1
	}
	return 0
}

// metricsServer is -listen's server: /metrics and nothing else, with
// timeouts, so that a client that sends its request a byte at a time, or
// never reads the answer, holds a connection for seconds, not for ever.
func metricsServer(c *config) *http.Server {
	reg := prometheus.NewRegistry()
	reg.MustRegister(&collector{dir: c.dir, shareDir: c.shareDir})
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	return &http.Server{Addr: c.listen, Handler: mux, ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout: 10 * time.Second, WriteTimeout: 30 * time.Second, IdleTimeout: time.Minute}
}

// scan reads this uid's registries in dir, then those other uids share in
// shareDir ("-": none); a share directory that cannot be read adds
// nothing.
func scan(dir, shareDir string) ([]stat.Process, error) {
	ps, err := stat.Scan(dir)
	if err != nil || shareDir == "-" {
		return ps, err
	}
	if shared, err := stat.ScanShared(shareDir); err == nil {
		ps = append(ps, shared...)
	}
	return ps, nil
}
