package main

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/spinwire/spinwire/affinity"
	"github.com/spinwire/spinwire/agent"
	"github.com/spinwire/spinwire/layout"
	"github.com/spinwire/spinwire/link"
)

// TestMain lets a test run this program as a child process: the test
// binary re-executed with "serve …" as its arguments.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && !strings.HasPrefix(os.Args[1], "-") {
		os.Exit(mainExit(os.Args[1:]))
	}
	os.Exit(m.Run())
}

// needTwoCPUs skips t unless the server's poller can spin on one CPU while
// the client runs on another.
func needTwoCPUs(t *testing.T) {
	t.Helper()
	if allowed, err := affinity.Allowed(); err != nil || len(allowed) < 2 {
		t.Skipf("needs two CPUs: one for the server's pinned poller, one for the client (allowed %v, err %v)", allowed, err)
	}
}

// keepRuntime restores the runtime settings that tuneRuntime changes.
func keepRuntime(t *testing.T) {
	procs, gc, limit := runtime.GOMAXPROCS(0), debug.SetGCPercent(100), debug.SetMemoryLimit(-1)
	debug.SetGCPercent(gc)
	t.Cleanup(func() {
		runtime.GOMAXPROCS(procs)
		debug.SetGCPercent(gc)
		debug.SetMemoryLimit(limit)
	})
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func serveCfg(dir string) serveConfig {
	return serveConfig{name: "gw", dir: dir, cpu: "auto", pollers: 1, maxConns: 64, every: 50 * time.Millisecond, procs: 4}
}

func clientCfg(dir string) clientConfig {
	return clientConfig{name: "gw", dir: dir, n: 20_000, conns: 4, bad: 10, timeout: 5 * time.Second, wait: 5 * time.Second, procs: 4}
}

type serveOutcome struct {
	res *serveResult
	err error
}

func startServer(ctx context.Context, cfg serveConfig, out *syncBuffer) <-chan serveOutcome {
	c := make(chan serveOutcome, 1)
	go func() {
		res, err := serve(ctx, cfg, out, out)
		c <- serveOutcome{res, err}
	}()
	return c
}

// expected counts the statuses the first n orders must get.
func expected(n, bad int) [numStatus]uint64 {
	var c [numStatus]uint64
	for i := range uint64(n) {
		_, st := makeOrder(i, bad)
		c[st]++
	}
	return c
}

func TestGateway(t *testing.T) {
	dir := t.TempDir()
	runGateway(t, serveCfg(dir), clientCfg(dir))
}

// TestGatewayExchange: with -exchange, accepted orders are acknowledged by
// the exchange goroutine (deferred calls), rejected ones inline; every
// order gets its ack.
func TestGatewayExchange(t *testing.T) {
	dir := t.TempDir()
	scfg := serveCfg(dir)
	scfg.exchange = true
	runGateway(t, scfg, clientCfg(dir))
}

// TestGatewayFills: a client with -fills takes one fill per accepted
// order, each matching an order it sent, pushed by the handler (inline)
// or by the exchange goroutine after its ack (-exchange).
func TestGatewayFills(t *testing.T) {
	for _, exchange := range []bool{false, true} {
		dir := t.TempDir()
		scfg := serveCfg(dir)
		scfg.exchange = exchange
		cfg := clientCfg(dir)
		cfg.fills = true
		res, s := runGateway(t, scfg, cfg)
		if accepted := res.Counts[StatusAccepted]; res.Fills != accepted || res.BadFills != 0 || s.Fills != accepted || s.FillsLost != 0 {
			t.Fatalf("exchange %v: client %d fills (%d bad), server %d pushed (%d lost), %d accepted", exchange, res.Fills, res.BadFills, s.Fills, s.FillsLost, accepted)
		}
	}
}

func runGateway(t *testing.T, scfg serveConfig, cfg clientConfig) (*clientResult, *serveResult) {
	needTwoCPUs(t)
	keepRuntime(t)
	dir := scfg.dir
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var srvOut, cliOut syncBuffer
	srv := startServer(ctx, scfg, &srvOut)
	res, err := client(context.Background(), cfg, &cliOut, &cliOut)
	time.Sleep(120 * time.Millisecond) // one report interval of the server
	cancel()                           // what Ctrl-C does
	s := <-srv
	t.Logf("server:\n%s\nclient:\n%s", &srvOut, &cliOut)
	if err != nil || s.err != nil {
		t.Fatalf("client: %v; server: %v", err, s.err)
	}
	want := expected(cfg.n, cfg.bad)
	if res.Sent != uint64(cfg.n) || res.Counts != want || res.Unexpected != 0 || res.Failed != 0 || uint64(res.Latency.TotalCount()) != uint64(cfg.n) {
		t.Fatalf("client: %+v, want counts %v", res, want)
	}
	for st := RejectReserved; st < numStatus; st++ {
		if want[st] == 0 {
			t.Errorf("no order was expected to be rejected for %s", st)
		}
	}
	if s.res.Counts != want || s.res.Stats.Accepted != uint64(cfg.conns) {
		t.Fatalf("server: %+v, want counts %v", s.res, want)
	}
	for _, w := range []string{"gateway: serving", "gateway: client process ", "orders: 18000 accepted, 2000 rejected", "gateway: stopped after"} {
		if !strings.Contains(srvOut.String(), w) {
			t.Errorf("server output lacks %q", w)
		}
	}
	if m, _ := filepath.Glob(filepath.Join(dir, "gw.sock")); len(m) != 0 {
		t.Errorf("socket left behind: %v", m)
	}
	return res, s.res
}

// The server as a separate process, stopped with SIGINT as Ctrl-C would.
func TestGatewayTwoProcesses(t *testing.T) {
	needTwoCPUs(t)
	keepRuntime(t)
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "serve", "-dir", dir, "-name", "gw", "-procs", "4")
	var srvOut syncBuffer
	cmd.Stdout, cmd.Stderr = &srvOut, &srvOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	var cliOut syncBuffer
	cfg := clientCfg(dir)
	cfg.n = 5000
	res, err := client(context.Background(), cfg, &cliOut, &cliOut)
	if err != nil || res.Counts != expected(cfg.n, cfg.bad) {
		t.Fatalf("client: %v %+v\n%s\n%s", err, res, &cliOut, &srvOut)
	}
	cmd.Process.Signal(os.Interrupt)
	err = cmd.Wait()
	t.Logf("server:\n%s\nclient:\n%s", &srvOut, &cliOut)
	if err != nil || !strings.Contains(srvOut.String(), "gateway: stopped after") || !strings.Contains(srvOut.String(), "orders: 4500 accepted, 500 rejected") {
		t.Fatalf("server exit: %v", err)
	}
}

func TestClientStops(t *testing.T) {
	needTwoCPUs(t)
	keepRuntime(t)
	t.Run("on_ctrl_c", func(t *testing.T) {
		dir := t.TempDir()
		srvCtx, srvCancel := context.WithCancel(context.Background())
		defer srvCancel()
		var out syncBuffer
		srv := startServer(srvCtx, serveCfg(dir), &out)
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(300*time.Millisecond, cancel)
		cfg := clientCfg(dir)
		cfg.n = 1 << 40
		res, err := client(ctx, cfg, &out, &out)
		if err != nil || res.Sent == 0 || res.Sent >= uint64(cfg.n) {
			t.Fatalf("%v %+v", err, res)
		}
		srvCancel()
		<-srv
	})
	t.Run("server_gone_fails_calls", func(t *testing.T) {
		dir := t.TempDir()
		srvCtx, srvCancel := context.WithCancel(context.Background())
		var out syncBuffer
		srv := startServer(srvCtx, serveCfg(dir), &out)
		time.AfterFunc(300*time.Millisecond, srvCancel)
		cfg := clientCfg(dir)
		cfg.n, cfg.timeout = 1<<40, 200*time.Millisecond
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		res, err := client(ctx, cfg, &out, &out)
		<-srv
		if err == nil || res.Failed == 0 || !(errors.Is(err, link.ErrPeerGone) || errors.Is(err, link.ErrTimeout)) {
			t.Fatalf("%v %+v\n%s", err, res, &out)
		}
	})
}

func TestServerStops(t *testing.T) {
	keepRuntime(t)
	t.Run("after_duration", func(t *testing.T) {
		cfg := serveCfg(t.TempDir())
		cfg.duration, cfg.cpu = 50*time.Millisecond, "none"
		var out syncBuffer
		if res, err := serve(context.Background(), cfg, &out, &out); err != nil || res.total() != 0 {
			t.Fatalf("%v %+v", err, res)
		}
	})
	t.Run("dedicated_needs_its_godebug", func(t *testing.T) {
		cfg := serveCfg(t.TempDir())
		cfg.dedicated, cfg.cpu = true, "none"
		var out syncBuffer
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if _, err := serve(ctx, cfg, &out, &out); !errors.Is(err, agent.ErrDedicated) && !agent.AsyncPreemptOff() {
			t.Fatalf("%v", err)
		}
	})
	t.Run("name_in_use", func(t *testing.T) {
		dir := t.TempDir()
		ctx, cancel := context.WithCancel(context.Background())
		var out syncBuffer
		cfg := serveCfg(dir)
		cfg.cpu = "none"
		srv := startServer(ctx, cfg, &out)
		time.Sleep(50 * time.Millisecond)
		_, err := serve(context.Background(), cfg, &out, &out)
		cancel()
		<-srv
		if !errors.Is(err, link.ErrInUse) {
			t.Fatalf("%v", err)
		}
	})
}

func TestClientErrors(t *testing.T) {
	keepRuntime(t)
	t.Run("no_server", func(t *testing.T) {
		cfg := clientCfg(t.TempDir())
		cfg.wait = 30 * time.Millisecond
		var out syncBuffer
		if _, err := client(context.Background(), cfg, &out, &out); !errors.Is(err, link.ErrPeerGone) {
			t.Fatalf("%v", err)
		}
	})
	t.Run("interrupted_while_waiting", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(30*time.Millisecond, cancel)
		var out syncBuffer
		if res, err := client(ctx, clientCfg(t.TempDir()), &out, &out); err != nil || res != nil {
			t.Fatalf("%v %+v", err, res)
		}
	})
	t.Run("other_layout_is_refused", func(t *testing.T) {
		dir := t.TempDir()
		s, err := link.Listen[Ack, Ack]("gw", link.Options{Dir: dir})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		var out syncBuffer
		if _, err := client(context.Background(), clientCfg(dir), &out, &out); !errors.Is(err, layout.ErrLayoutMismatch) {
			t.Fatalf("%v", err)
		}
	})
	t.Run("wrong_acks_are_caught", func(t *testing.T) {
		dir := t.TempDir()
		s, err := link.Listen[Order, Ack]("gw", link.Options{Dir: dir})
		if err != nil {
			t.Fatal(err)
		}
		go s.Serve(func(q *Order, r *Ack) { *r = Ack{ClOrdID: q.ClOrdID, OrderID: 1, Status: uint8(StatusAccepted)} })
		defer s.Close()
		cfg := clientCfg(dir)
		cfg.n = 100
		var out syncBuffer
		res, err := client(context.Background(), cfg, &out, &out)
		if err == nil || res.Unexpected != 10 || !strings.Contains(err.Error(), "unexpected") {
			t.Fatalf("%v %+v", err, res)
		}
	})
}

// Orders are hostile input: every defect gets its status, and no order,
// however random, makes validate panic or answer outside the statuses.
func TestValidate(t *testing.T) {
	good, _ := makeOrder(0, 0)
	for _, tc := range []struct {
		name string
		edit func(*Order)
		want Status
	}{
		{"valid_limit", func(*Order) {}, StatusAccepted},
		{"valid_market", func(o *Order) { o.Type, o.Price = TypeMarket, 0 }, StatusAccepted},
		{"valid_sell_max_qty_max_price", func(o *Order) { o.Side, o.Qty, o.Price = SideSell, MaxQty, MaxPrice }, StatusAccepted},
		{"reserved_byte", func(o *Order) { o.Reserved[0] = 1 }, RejectReserved},
		{"side_zero", func(o *Order) { o.Side = 0 }, RejectSide},
		{"side_lowercase", func(o *Order) { o.Side = 'b' }, RejectSide},
		{"qty_zero", func(o *Order) { o.Qty = 0 }, RejectQty},
		{"qty_over_max", func(o *Order) { o.Qty = MaxQty + 1 }, RejectQty},
		{"qty_huge", func(o *Order) { o.Qty = ^uint32(0) }, RejectQty},
		{"type_unknown", func(o *Order) { o.Type = 0 }, RejectType},
		{"price_zero", func(o *Order) { o.Price = 0 }, RejectPrice},
		{"price_negative", func(o *Order) { o.Price = -100 }, RejectPrice},
		{"price_min_int", func(o *Order) { o.Price = -1 << 63 }, RejectPrice},
		{"price_over_max", func(o *Order) { o.Price = MaxPrice + PriceTick }, RejectPrice},
		{"price_off_grid", func(o *Order) { o.Price += 1 }, RejectPrice},
		{"market_with_price", func(o *Order) { o.Type = TypeMarket }, RejectPrice},
		{"symbol_unknown", func(o *Order) { o.Symbol = [8]byte{'X'} }, RejectSymbol},
		{"symbol_empty", func(o *Order) { o.Symbol = [8]byte{} }, RejectSymbol},
		{"symbol_trailing_garbage", func(o *Order) { o.Symbol[7] = 'Z' }, RejectSymbol},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := good
			tc.edit(&o)
			if got := validate(&o); got != tc.want {
				t.Fatalf("%+v: %s, want %s", o, got, tc.want)
			}
		})
	}
	t.Run("random_orders", func(t *testing.T) {
		rng := rand.New(rand.NewPCG(3, 4))
		var g gateway
		for range 100_000 {
			var o Order
			b := (*[OrderLength]byte)(unsafe.Pointer(&o))
			for i := range b {
				b[i] = byte(rng.Uint32())
			}
			if rng.IntN(2) == 0 { // keep some fields sane so later checks are reached
				o.Reserved, o.Side, o.Qty = [2]byte{}, SideBuy, 1
			}
			var a Ack
			g.handle(&o, &a)
			if st := Status(a.Status); st <= statusNone || st >= numStatus || a.ClOrdID != o.ClOrdID || (st == StatusAccepted) != (a.OrderID != 0) {
				t.Fatalf("%+v → %+v", o, a)
			}
		}
	})
	t.Run("makeOrder_defects", func(t *testing.T) {
		for i := range uint64(600) {
			o, want := makeOrder(i, 7)
			if got := validate(&o); got != want {
				t.Fatalf("order %d %+v: %s, want %s", i, o, got, want)
			}
		}
	})
}

func FuzzValidate(f *testing.F) {
	good, _ := makeOrder(0, 0)
	f.Add(good.ClOrdID, good.Symbol[:], good.Price, good.Qty, good.Side, good.Type, uint16(0))
	f.Fuzz(func(t *testing.T, id uint64, sym []byte, price int64, qty uint32, side, typ uint8, reserved uint16) {
		o := Order{ClOrdID: id, Price: price, Qty: qty, Side: side, Type: typ, Reserved: [2]byte{byte(reserved), byte(reserved >> 8)}}
		copy(o.Symbol[:], sym)
		var g gateway
		var a Ack
		g.handle(&o, &a)
		if st := Status(a.Status); st <= statusNone || st >= numStatus {
			t.Fatalf("status %d", a.Status)
		}
		if a.Status == uint8(StatusAccepted) && (o.Qty == 0 || o.Qty > MaxQty || o.Price < 0 || o.Price > MaxPrice) {
			t.Fatalf("accepted %+v", o)
		}
	})
}

func TestZeroAllocs(t *testing.T) {
	var g gateway
	o, _ := makeOrder(5, 0)
	var a Ack
	if n := testing.AllocsPerRun(1000, func() { g.handle(&o, &a) }); n != 0 {
		t.Fatalf("handler: %v allocations", n)
	}
}

func TestLayout(t *testing.T) {
	for _, s := range []*layout.Schema{layout.MustOf[Order](), layout.MustOf[Ack]()} {
		if s.Size%8 != 0 || s.Size > 48 {
			t.Errorf("%s: %d bytes", s.Name, s.Size)
		}
	}
	if Status(200).String() != "status(200)" || StatusAccepted.String() != "accepted" {
		t.Fatal("Status.String")
	}
}

func TestCommandLine(t *testing.T) {
	keepRuntime(t)
	ctx := context.Background()
	for _, args := range [][]string{
		nil,
		{"bogus"},
		{"serve", "-pollers", "0"},
		{"serve", "extra"},
		{"serve", "-cpu", "1,x"},
		{"serve", "-nosuchflag"},
		{"client", "-n", "0"},
		{"client", "extra"},
		{"client", "-dir", "/nonexistent/dir", "-wait", "0s"},
		{"serve", "-dir", "/nonexistent/dir", "-cpu", "none"},
	} {
		var out, errs syncBuffer
		if err := run(ctx, args, &out, &errs); err == nil {
			t.Errorf("%q: no error", args)
		}
	}
	var out, errs syncBuffer
	if err := run(ctx, []string{"help"}, &out, &errs); err != nil || !strings.Contains(out.String(), "gateway serve") {
		t.Fatalf("help: %v %q", err, &out)
	}
	if cpus, err := chooseCPUs("1, 0", 2, &errs); err != nil || len(cpus) != 2 || cpuList(cpus) != "cpu 1,0" || cpuList(nil) != "no pinned CPU" {
		t.Fatal(cpus, err)
	}
	if cpus, err := chooseCPUs("none", 1, &errs); err != nil || cpus != nil {
		t.Fatal(cpus, err)
	}
	for n, want := range map[int]string{0: "none invalid", 1: "all invalid", 2: "every 2nd invalid", 3: "every 3rd invalid",
		10: "every 10th invalid", 11: "every 11th invalid", 21: "every 21st invalid", 112: "every 112th invalid"} {
		if got := invalidShare(n); got != want {
			t.Errorf("invalidShare(%d) = %q", n, got)
		}
	}
}

// TestLatency: recording a call's latency allocates nothing, a value the
// histogram cannot hold is clamped rather than refused, and the summary
// names every percentile.
func TestLatency(t *testing.T) {
	h := newLatency()
	if a := testing.AllocsPerRun(1000, func() { recordLatency(h, 2500) }); a != 0 {
		t.Errorf("recordLatency: %v allocations", a)
	}
	recordLatency(h, 1<<62)
	// 1000 runs, the warm-up call AllocsPerRun makes first, the clamped value.
	if h.TotalCount() != 1002 || h.Max() < maxLatency || h.ValueAtPercentile(50) < 2500 || h.ValueAtPercentile(50) > 2503 {
		t.Errorf("count %d, max %d, p50 %d", h.TotalCount(), h.Max(), h.ValueAtPercentile(50))
	}
	s := latencyString(h)
	for _, want := range []string{"p50 ", "p99.99 ", "max "} {
		if !strings.Contains(s, want) {
			t.Errorf("%q lacks %q", s, want)
		}
	}
}
