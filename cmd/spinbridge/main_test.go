package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/spinwire/spinwire/layout"
	"github.com/spinwire/spinwire/stat"
	"github.com/spinwire/spinwire/topic"
)

type tick struct {
	Seq   uint64
	Price int64
}

// TestLoop: one spinbridge with an embedded NATS server exports topic a
// and imports it back as topic b, which it creates with a's layout: a
// typed subscriber of b receives what a typed publisher of a published,
// and the counters are printed; the run ends with its context.
func TestLoop(t *testing.T) {
	for _, durable := range []string{"", "loop"} {
		dir := t.TempDir()
		pub, err := topic.Create[tick]("a", topic.Options{Dir: dir, Policy: topic.Reliable, StallTimeout: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		args := []string{"-embedded", "-listen", "127.0.0.1:0", "-dir", dir, "-export", "a=md.a", "-import", "md.a=b",
			"-every", "20ms", "-stat", "-policy", "reliable"}
		if durable != "" {
			args = append(args, "-durable", durable)
		}
		ctx, cancel := context.WithCancel(context.Background())
		var out bytes.Buffer // read once run has returned
		done := make(chan error, 1)
		go func() { done <- run(ctx, args, &out, &out) }()
		sub, err := topic.Subscribe[tick]("b", topic.SubscribeOptions{Dir: dir, Wait: 10 * time.Second})
		if err != nil {
			cancel()
			t.Fatalf("%v; run: %v\n%s", err, <-done, &out)
		}
		for i := range uint64(500) {
			pub.Publish(&tick{Seq: i, Price: int64(i)})
		}
		var next uint64
		for end := time.Now().Add(10 * time.Second); next < 500 && time.Now().Before(end); {
			if n, _ := sub.Poll(func(m *tick) {
				if m.Seq != next {
					t.Fatalf("message %d came as %d", next, m.Seq)
				}
				next++
			}, 0); n == 0 {
				sub.Wait(time.Millisecond)
			}
		}
		time.Sleep(50 * time.Millisecond) // a report or two
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		sub.Close()
		pub.Close()
		if next != 500 {
			t.Fatalf("durable %q: received %d of 500\n%s", durable, next, &out)
		}
		for _, w := range []string{"NATS server at", "exporting topic a (main.tick) to md.a", "importing md.a (main.tick) into topic b", "500 messages"} {
			if !strings.Contains(out.String(), w) {
				t.Errorf("output lacks %q:\n%s", w, &out)
			}
		}
	}
}

// TestExportsBeyondTheRegistry: with -stat, more exports than the
// counters registry has slots fail the run with the registry's error -
// the exporter that could not register is closed, never run - instead of
// hanging its shutdown, which waited for every exporter listed to stop.
func TestExportsBeyondTheRegistry(t *testing.T) {
	t.Setenv("XDG_RUNTIME_DIR", t.TempDir()) // the registry's directory
	dir := t.TempDir()
	args := []string{"-embedded", "-listen", "127.0.0.1:0", "-dir", dir, "-stat"}
	for i := range stat.DefaultSlots + 1 {
		name := "t" + strconv.Itoa(i)
		pub, err := topic.Create[tick](name, topic.Options{Dir: dir, Capacity: 2})
		if err != nil {
			t.Fatal(err)
		}
		defer pub.Close()
		args = append(args, "-export", name+"=md."+name)
	}
	var out bytes.Buffer
	done := make(chan error, 1)
	go func() { done <- run(context.Background(), args, &out, &out) }()
	select {
	case err := <-done:
		if !errors.Is(err, stat.ErrFull) {
			t.Fatalf("run: %v\n%s", err, &out)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("run did not return")
	}
}

// TestBadFlags: what spinbridge refuses before it starts.
func TestBadFlags(t *testing.T) {
	for _, args := range [][]string{{}, {"-export", "a"}, {"-import", "=b"}, {"-embedded", "-policy", "fast"}, {"-embedded", "stray"},
		{"-embedded", "-listen", "nowhere"}, {"-nats", "nats://127.0.0.1:1", "-export", "a=b"}} {
		var out bytes.Buffer
		if err := run(context.Background(), args, &out, &out); err == nil {
			t.Errorf("%q accepted", args)
		}
	}
	// Refused before anything connects, naming the flag.
	for _, args := range [][]string{{"-capacity", "3"}, {"-capacity", "0"}, {"-capacity", "33554432"}, {"-every", "-1s"}, {"-wait", "-1ms"}} {
		var out bytes.Buffer
		if _, err := parse(append(args, "-import", "a=b"), &out); err == nil || !strings.HasPrefix(err.Error(), args[0]) {
			t.Errorf("%q: %v", args, err)
		}
	}
	dir := t.TempDir()
	var out bytes.Buffer
	if err := run(context.Background(), []string{"-embedded", "-listen", "127.0.0.1:0", "-dir", dir, "-wait", "10ms", "-export", "none=x"}, &out, &out); err == nil {
		t.Error("exported a topic that does not exist")
	}
	if err := run(context.Background(), []string{"-embedded", "-listen", "127.0.0.1:0", "-dir", dir, "-wait", "10ms", "-import", "x=none"}, &out, &out); err == nil {
		t.Error("imported a subject nobody exports")
	}
}

// TestImportTooLarge: an exporter - anyone who may answer on the NATS
// subject - that says its messages are a mebibyte does not make spinbridge
// create, populated, a topic of -capacity of them (4 GiB at the default):
// the import is refused, naming -capacity, and no topic is made.
func TestImportTooLarge(t *testing.T) {
	s := startNATS(t)
	nc, err := nats.Connect(s.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	type huge struct{ B [1<<20 - 64]byte }
	text := layout.MustOf[huge]().Encode()
	if _, err := nc.Subscribe("_SPINWIRE.SCHEMA.md.huge", func(m *nats.Msg) { m.Respond(text) }); err != nil {
		t.Fatal(err)
	}
	nc.Flush()
	dir := t.TempDir()
	var out bytes.Buffer
	err = run(context.Background(), []string{"-nats", s.ClientURL(), "-dir", dir, "-import", "md.huge=huge"}, &out, &out)
	if err == nil || !strings.Contains(err.Error(), "-capacity 4096") {
		t.Fatalf("run: %v\n%s", err, &out)
	}
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Fatalf("left %v", left)
	}
	// A capacity that keeps it within bounds is taken.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := run(ctx, []string{"-nats", s.ClientURL(), "-dir", dir, "-import", "md.huge=huge", "-capacity", "2"}, &out, &out); err != nil {
		t.Fatalf("run: %v\n%s", err, &out)
	}
}

// startNATS runs an embedded NATS server on a random port until the test
// ends.
func startNATS(tb testing.TB) *server.Server {
	tb.Helper()
	s, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true})
	if err != nil {
		tb.Fatal(err)
	}
	go s.Start()
	tb.Cleanup(s.Shutdown)
	if !s.ReadyForConnections(5 * time.Second) {
		tb.Fatal("NATS server not ready")
	}
	return s
}
