package main

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/spinwire/spinwire/topic"
)

// childEnv makes the test binary run spinbridge with the arguments it
// holds (tab-separated), until its standard input closes.
const childEnv = "SPINBRIDGE_TEST_ARGS"

func TestMain(m *testing.M) {
	if args := os.Getenv(childEnv); args != "" {
		ctx, cancel := context.WithCancel(context.Background())
		go func() { bufio.NewReader(os.Stdin).ReadString('\n'); cancel() }()
		if err := run(ctx, strings.Split(args, "\t"), os.Stdout, os.Stderr); err != nil {
			os.Stderr.WriteString(err.Error() + "\n")
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// startBridge runs spinbridge with args in a process of its own and waits
// for its line containing ready.
func startBridge(b *testing.B, ready string, args ...string) {
	b.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=XXX")
	cmd.Env = append(os.Environ(), childEnv+"="+strings.Join(args, "\t"))
	stdin, _ := cmd.StdinPipe()
	out, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { stdin.Close(); cmd.Wait() })
	r := bufio.NewReader(out)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			b.Fatalf("spinbridge %q: %v", args, err)
		}
		if strings.Contains(line, ready) {
			break
		}
	}
	go r.WriteTo(os.Stderr)
}

// BenchmarkProcessLatency: the bridge as deployed — a publisher process
// (this one, which also runs the NATS server), a spinbridge exporting its
// topic, another importing it into a second topic, and a subscriber (this
// process again) — at a low rate (one message every 200 µs), against a
// bare NATS publish to a subscriber, alternating message by message.
// Reports each one's p50 and p99 and the bridge's added p50 (target:
// ≤ 20 µs).
func BenchmarkProcessLatency(b *testing.B) {
	s := startNATS(b)
	dir := b.TempDir()
	pub, err := topic.Create[tick]("a", topic.Options{Dir: dir})
	if err != nil {
		b.Fatal(err)
	}
	defer pub.Close()
	startBridge(b, "exporting", "-nats", s.ClientURL(), "-dir", dir, "-export", "a=md.lat", "-every", "0")
	startBridge(b, "importing", "-nats", s.ClientURL(), "-dir", dir, "-import", "md.lat=b", "-every", "0")
	sub, err := topic.Subscribe[tick]("b", topic.SubscribeOptions{Dir: dir, Wait: 10 * time.Second})
	if err != nil {
		b.Fatal(err)
	}
	defer sub.Close()
	ncPub, err := nats.Connect(s.ClientURL())
	if err != nil {
		b.Fatal(err)
	}
	defer ncPub.Close()
	ncSub, err := nats.Connect(s.ClientURL())
	if err != nil {
		b.Fatal(err)
	}
	defer ncSub.Close()
	raw, _ := ncSub.SubscribeSync("raw")
	ncSub.Flush()
	payload := make([]byte, 16)
	bridged, bare := make([]float64, 0, b.N), make([]float64, 0, b.N)
	b.ResetTimer()
	for i := range b.N + 100 { // the first 100 of each warm up
		time.Sleep(200 * time.Microsecond)
		t0 := time.Now()
		pub.Publish(&tick{Seq: uint64(i)})
		for got := false; !got; {
			if sub.Poll(func(*tick) { got = true }, 0); !got {
				sub.Wait(time.Millisecond)
			}
		}
		d := time.Since(t0)
		time.Sleep(200 * time.Microsecond)
		t0 = time.Now()
		ncPub.Publish("raw", payload)
		if _, err := raw.NextMsg(5 * time.Second); err != nil {
			b.Fatal(err)
		}
		if i >= 100 {
			bridged = append(bridged, float64(d))
			bare = append(bare, float64(time.Since(t0)))
		}
	}
	b.StopTimer()
	slices.Sort(bridged)
	slices.Sort(bare)
	q := func(v []float64, p float64) float64 { return v[int(p*float64(len(v)-1))] / 1e3 }
	b.ReportMetric(q(bridged, 0.5), "bridge-p50-µs")
	b.ReportMetric(q(bridged, 0.99), "bridge-p99-µs")
	b.ReportMetric(q(bare, 0.5), "nats-p50-µs")
	b.ReportMetric(q(bare, 0.99), "nats-p99-µs")
	b.ReportMetric(q(bridged, 0.5)-q(bare, 0.5), "added-p50-µs")
}
