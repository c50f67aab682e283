package echo

import (
	"context"
	"io"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"

	"github.com/spinwire/spinwire/agent"
	"github.com/spinwire/spinwire/asm"
	"github.com/spinwire/spinwire/link"
)

// Msg is the request and the response: 48 bytes, so a slot with its id and
// sequence words is one 64-byte line.
type Msg struct {
	Seq   uint64    // the client's request number on this connection
	Stamp uint64    // asm.Ticks when the request was sent
	Body  [4]uint64 // payload, echoed
}

// Resp is the response type: Msg's layout under its own name.
type Resp Msg

// Handler is the server's handler: the response is the request.
func Handler(q *Msg, r *Resp) { *r = Resp(*q) }

// Config configures Serve.
type Config struct {
	Name     string
	Dir      string
	MaxConns int
	Depth    int
	Pollers  int
	CPUs     []int
	Mode     agent.Mode
	// Defer makes the handler defer every call and a replier goroutine
	// answer it (link's Caller.Defer and Server.Reply): pingpong -defer.
	Defer bool
	// Push declares Msg as the server's push type (link.ListenPush): a
	// client that dials with DialPush gets, besides each response, the
	// request pushed back with Stamp set to the moment of the push
	// (pingpong -push).
	Push bool
}

// Listen binds cfg.Name's socket: the server accepts connections from
// here on and answers them once Serve runs. With cfg.Push the server is a
// PushServer's.
func Listen(cfg Config) (*link.Server[Msg, Resp], error) {
	s, _, err := listen(cfg)
	return s, err
}

func listen(cfg Config) (*link.Server[Msg, Resp], *link.PushServer[Msg, Resp, Msg], error) {
	opts := link.Options{Dir: cfg.Dir, MaxConns: cfg.MaxConns, Depth: cfg.Depth, Pollers: cfg.Pollers, CPUs: cfg.CPUs, Mode: cfg.Mode}
	if !cfg.Push {
		s, err := link.Listen[Msg, Resp](cfg.Name, opts)
		return s, nil, err
	}
	ps, err := link.ListenPush[Msg, Resp, Msg](cfg.Name, opts)
	if err != nil {
		return nil, nil, err
	}
	return ps.Server, ps, nil
}

// Serve listens on cfg.Name, calls ready once it accepts connections, and
// serves until ctx ends.
func Serve(ctx context.Context, cfg Config, ready func()) error {
	s, ps, err := listen(cfg)
	if err != nil {
		return err
	}
	errc := make(chan error, 1)
	go func() { errc <- serve(s, ps, cfg.Defer) }()
	ready()
	select {
	case <-ctx.Done():
		s.Close()
		return <-errc
	case err := <-errc:
		s.Close()
		return err
	}
}

// Usage is Main's flag summary.
const Usage = "usage: linkecho -name NAME [-dir DIR] [-cpus 1[,2…]] [-maxconns 4096] [-depth 4] [-dedicated] [-defer] [-push]\n"

// Main is the server process of the conns benchmark: cmd/linkecho's main,
// and pingpong's when it re-executes itself as the server. Flags: -name
// (required), -dir, -cpus (poller i pins to the i-th), -maxconns, -depth,
// -dedicated; "-flag value" or "-flag=value"; -h prints Usage. It prints
// "READY" once it accepts connections and returns (the exit status: 0, 1
// when serving fails, 2 for bad flags) when stdin closes.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	cfg, err := parseArgs(args)
	if err == errHelp {
		io.WriteString(stdout, Usage)
		return 0
	}
	if err != nil {
		io.WriteString(stderr, "linkecho: "+err.Error()+"\n"+Usage)
		return 2
	}
	// The runtime rules for a spinning process: GOMAXPROCS explicit — one
	// P per poller and one for everything else (the housekeeping epoll
	// loop, this goroutine); a dedicated agent needs one more, agent's rule
	// — and the GC off, since the steady state allocates nothing, with a
	// limit as a guard. (pingpong -mode conns reports the server's VmRSS:
	// with the GC on it is larger, not smaller — the collector's metadata
	// costs more than the set-up garbage it would free — and every P beyond
	// these holds partly used heap spans of its own, 8 KiB each.)
	procs := cfg.Pollers + 1
	if cfg.Mode == agent.Dedicated {
		procs++
	}
	if cfg.Defer {
		procs++ // the replier
	}
	runtime.GOMAXPROCS(procs)
	debug.SetGCPercent(-1)
	debug.SetMemoryLimit(64 << 20)
	s, ps, err := listen(cfg)
	if err != nil {
		io.WriteString(stderr, "linkecho: "+err.Error()+"\n")
		return 1
	}
	errc := make(chan error, 1)
	go func() { errc <- serve(s, ps, cfg.Defer) }()
	io.WriteString(stdout, "READY\n")
	// The calling goroutine waits for stdin to close itself (cmd/linkecho
	// runs this on the locked main thread): no goroutine, and no thread,
	// just for that. A buffer on the stack: io.Copy to io.Discard would
	// take an 8 KiB one from a pool.
	var b [64]byte
	for {
		if _, err := stdin.Read(b[:]); err != nil {
			break
		}
	}
	s.Close()
	if err := <-errc; err != nil {
		io.WriteString(stderr, "linkecho: "+err.Error()+"\n")
		return 1
	}
	return 0
}

// deferred is a call the deferring handler hands to the replier.
type deferred struct {
	d link.Deferred
	r Resp
}

// serve runs s with Handler, or with -defer with a handler that defers
// every call and hands it, with its response, to a replier goroutine over
// a channel (as a gateway hands an order to its exchange session). The
// channel holds as many calls as the server can have in flight per
// connection times MaxConns would be unbounded: 4096, after which the
// handler waits for the replier.
func serve(s *link.Server[Msg, Resp], ps *link.PushServer[Msg, Resp, Msg], deferring bool) error {
	if ps != nil && !deferring {
		return s.ServeCaller(func(c *link.Caller, q *Msg, r *Resp) {
			*r = Resp(*q)
			if p := c.Peer(); p.Pushes() {
				m := *q
				m.Stamp = asm.Ticks()
				ps.Push(p, &m) // ErrFull: the client is behind; it sees a gap in Seq
			}
		})
	}
	if !deferring {
		return s.Serve(Handler)
	}
	ch := make(chan deferred, 4096)
	go func() {
		for x := range ch {
			s.Reply(x.d, &x.r)
		}
	}()
	defer close(ch)
	return s.ServeCaller(func(c *link.Caller, q *Msg, _ *Resp) {
		ch <- deferred{c.Defer(), Resp(*q)}
	})
}

// usageError is a bad command line.
type usageError string

func (e usageError) Error() string { return string(e) }

// errHelp is -h or -help: Main prints Usage and exits 0.
const errHelp = usageError("help")

// parseArgs reads Main's flags. It is the flag package's grammar for these
// six flags, without the flag package (see the package comment).
func parseArgs(args []string) (Config, error) {
	cfg := Config{MaxConns: 4096, Depth: 4, Pollers: 1}
	for i := 0; i < len(args); i++ {
		name, value, hasValue := strings.Cut(strings.TrimPrefix(strings.TrimPrefix(args[i], "-"), "-"), "=")
		if !strings.HasPrefix(args[i], "-") || name == "" {
			return cfg, usageError("unexpected argument " + strconv.Quote(args[i]))
		}
		if (name == "h" || name == "help") && !hasValue {
			return cfg, errHelp
		}
		if name == "defer" && !hasValue {
			cfg.Defer = true
			continue
		}
		if name == "push" && !hasValue {
			cfg.Push = true
			continue
		}
		if name == "dedicated" {
			if hasValue && value != "true" && value != "false" {
				return cfg, usageError("-dedicated=" + value + ": want true or false")
			}
			if !hasValue || value == "true" {
				cfg.Mode = agent.Dedicated
			}
			continue
		}
		if !hasValue {
			if i+1 == len(args) {
				return cfg, usageError("flag needs a value: -" + name)
			}
			i++
			value = args[i]
		}
		var err error
		switch name {
		case "name":
			cfg.Name = value
		case "dir":
			cfg.Dir = value
		case "maxconns":
			cfg.MaxConns, err = strconv.Atoi(value)
		case "depth":
			cfg.Depth, err = strconv.Atoi(value)
		case "cpus":
			cfg.CPUs = cfg.CPUs[:0]
			for s := range strings.SplitSeq(value, ",") {
				n, perr := strconv.Atoi(s)
				if perr != nil {
					err = perr
					break
				}
				cfg.CPUs = append(cfg.CPUs, n)
			}
			cfg.Pollers = len(cfg.CPUs)
		default:
			return cfg, usageError("flag provided but not defined: -" + name)
		}
		if err != nil {
			return cfg, usageError("-" + name + " " + strconv.Quote(value) + ": " + err.Error())
		}
	}
	if cfg.Name == "" {
		return cfg, usageError("-name is required")
	}
	return cfg, nil
}
