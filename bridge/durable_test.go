package bridge

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
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
