package bridge

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/spinwire/spinwire/layout"
	"github.com/spinwire/spinwire/topic"
)

// exportEnv makes the test binary a durable exporter ("URL DIR SUBJECT"):
// the bridge process the chaos test kills.
const exportEnv = "BRIDGE_TEST_EXPORT"

func TestMain(m *testing.M) {
	if spec := os.Getenv(exportEnv); spec != "" {
		os.Exit(exportChild(spec))
	}
	os.Exit(m.Run())
}

func exportChild(spec string) int {
	f := strings.Fields(spec)
	nc, err := nats.Connect(f[0])
	if err != nil {
		fmt.Println("connect:", err)
		return 1
	}
	e, err := Export[tick](nc, "a", ExportOptions{Subject: f[2], Durable: true, Subscribe: topic.SubscribeOptions{Dir: f[1]}})
	if err != nil {
		fmt.Println("export:", err)
		return 1
	}
	fmt.Println("READY")
	if err := e.Run(context.Background()); err != nil {
		fmt.Println("run:", err)
		return 1
	}
	return 0
}

// startJetStream runs an embedded NATS server with JetStream on a random
// port, its store in a directory of the test's.
func startJetStream(t testing.TB) *server.Server {
	return runNATS(t, &server.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true,
		JetStream: true, StoreDir: t.TempDir()})
}

// startExporter starts an exporter process and waits for it to say READY.
func startExporter(t *testing.T, url, dir, subject string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=XXX")
	cmd.Env = append(os.Environ(), exportEnv+"="+url+" "+dir+" "+subject)
	out, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || line != "READY\n" {
		t.Fatalf("exporter: %q %v", line, err)
	}
	go bufio.NewReader(out).WriteTo(os.Stderr)
	return cmd
}

// TestDurableChaos: 100 000 messages from a topic on "host A" reach a
// topic on "host B" through a durable exporter process that is SIGKILLed
// mid-stream and started again: every one arrives, once, in order. The
// restarted exporter resumes after the last batch JetStream stored, from
// the topic's History.
func TestDurableChaos(t *testing.T) {
	const total = 100_000
	s := startJetStream(t)
	optsA := topic.Options{Policy: topic.Reliable, Capacity: 1 << 17, History: 1 << 17, StallTimeout: time.Minute}
	p := twoHosts[tick](t, optsA, topic.Options{Policy: topic.Reliable, Capacity: 1 << 17, StallTimeout: time.Minute})
	p.importOn(t, connect(t, s), "md.durable", ImportOptions{Durable: "hostB", Logf: t.Logf})
	pubA, subB, dirA := p.pubA, p.subB, p.dirA
	exp := startExporter(t, s.ClientURL(), dirA, "md.durable")
	inBackground(t, total, func(i uint64) {
		pubA.Publish(&tick{Seq: i, Price: int64(i)})
		if i%1024 == 0 {
			time.Sleep(200 * time.Microsecond)
		}
	})
	var got, next uint64
	take := func() {
		subB.Poll(func(m *tick) {
			if m.Seq != next || m.Price != int64(next) {
				t.Fatalf("message %d came as seq %d", next, m.Seq)
			}
			next++
			got++
		}, 0)
	}
	deadline := time.Now().Add(time.Minute)
	for got < total/5 && time.Now().Before(deadline) {
		take()
		time.Sleep(100 * time.Microsecond)
	}
	exp.Process.Signal(syscall.SIGKILL)
	exp.Wait()
	killedAt := p.imp.Stats().Messages
	startExporter(t, s.ClientURL(), dirA, "md.durable")
	for got < total/2 && time.Now().Before(deadline) {
		take()
		time.Sleep(100 * time.Microsecond)
	}
	// The importer goes away for a while and comes back: its durable
	// consumer kept its place.
	p.imp.Close()
	first := p.imp.Stats()
	time.Sleep(50 * time.Millisecond)
	p.importOn(t, connect(t, s), "md.durable", ImportOptions{Durable: "hostB", Logf: t.Logf})
	for got < total && time.Now().Before(deadline) {
		take()
		time.Sleep(100 * time.Microsecond)
	}
	st := p.imp.Stats()
	t.Logf("exporter killed with %d imported; importer closed with %d; received %d; import %+v", killedAt, first.Messages, got, st)
	// No duplicate either: the restarted exporter resumed after what
	// JetStream had (from History it would have sent those again).
	if got != total || first.Lost+st.Lost != 0 || first.Duplicates+st.Duplicates != 0 || first.Messages+st.Messages != total || killedAt >= total {
		t.Fatalf("received %d of %d (killed at %d imported), import %+v then %+v", got, total, killedAt, first, st)
	}
}

// TestDurableImportPublisherGone: a durable importer whose local publish
// fails (its topic's publisher closed) stops - Err says why - and leaves
// the batch it could not publish wholly with its consumer, unacknowledged:
// the next importer of the consumer publishes it. Meanwhile the stopped
// importer refuses the batch at most every durableRetry, not in a loop.
// (It used to count the batch sent again as a duplicate of itself and
// acknowledge it: lost.)
func TestDurableImportPublisherGone(t *testing.T) {
	s := startJetStream(t)
	nc := connect(t, s)
	sc := layout.MustOf[tick]()
	var mu sync.Mutex
	var got []uint64
	importer := func(failAt int) *RawImporter {
		im, err := importWith(nc, "md.gone", sc, func(b []byte) error {
			mu.Lock()
			defer mu.Unlock()
			if len(got) == failAt {
				return topic.ErrClosed
			}
			got = append(got, (*tick)(unsafe.Pointer(&b[0])).Seq)
			return nil
		}, ImportOptions{Durable: "hostB", Logf: t.Logf})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { im.Close() })
		return im
	}
	waitFor := func(what string, done func() bool) {
		t.Helper()
		for end := time.Now().Add(10 * time.Second); !done(); time.Sleep(time.Millisecond) {
			if time.Now().After(end) {
				t.Fatalf("no %s in 10 s", what)
			}
		}
	}
	published := func(n int) func() bool {
		return func() bool { mu.Lock(); defer mu.Unlock(); return len(got) == n }
	}
	first := importer(15)
	js, err := nc.JetStream()
	if err != nil {
		t.Fatal(err)
	}
	for seq := uint64(0); seq < 20; seq += 10 {
		m := nats.NewMsg("md.gone")
		encodeHeader(m.Header, sc.Fingerprint, sc.Name, 7, seq, 10)
		for i := seq; i < seq+10; i++ {
			v := tick{Seq: i}
			m.Data = append(m.Data, bytesOf(&v)...)
		}
		if _, err := js.PublishMsg(m); err != nil {
			t.Fatal(err)
		}
	}
	waitFor("stop", func() bool { return first.Err() != nil })
	time.Sleep(3 * durableRetry)
	if st := first.Stats(); !errors.Is(first.Err(), topic.ErrClosed) || st.Messages != 15 || st.Duplicates != 0 || st.Errors > 6 {
		t.Fatalf("the stopped importer: %v, %+v", first.Err(), st)
	}
	first.Close()
	second := importer(-1)
	waitFor("second batch", published(25))
	mu.Lock()
	defer mu.Unlock()
	for i, seq := range got {
		if want := uint64(i) - uint64(i/15)*5; seq != want { // 0…14, then 10…19
			t.Fatalf("published %v", got)
		}
	}
	if st := second.Stats(); st.Messages != 10 || st.Errors != 0 || second.Err() != nil {
		t.Fatalf("the next importer: %v, %+v", second.Err(), st)
	}
}
