package connbench

import (
	"bufio"
	"bytes"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/spinwire/spinwire/link"
)

func TestServesUntilStdinCloses(t *testing.T) {
	dir := t.TempDir()
	stdinR, stdinW := io.Pipe()
	outR, outW := io.Pipe()
	done := make(chan int, 1)
	go func() {
		done <- ServerMain([]string{"-name", "e", "-dir", dir, "-maxconns", "8"}, stdinR, outW, io.Discard)
	}()
	line, err := bufio.NewReader(outR).ReadString('\n')
	if err != nil || line != "READY\n" {
		t.Fatalf("%q %v", line, err)
	}
	go io.Copy(io.Discard, outR)
	c, err := link.Dial[Msg, Resp]("e", link.DialOptions{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	var r Resp
	if err := c.Call(time.Now().Add(5*time.Second), &Msg{Seq: 9, Body: [4]uint64{1, 2, 3, 4}}, &r); err != nil || r.Seq != 9 || r.Body[3] != 4 {
		t.Fatalf("echo: %v %+v", err, r)
	}
	c.Close()
	stdinW.Close()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("exit %d", code)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("did not stop when stdin closed")
	}
}

func TestBadFlags(t *testing.T) {
	for _, args := range [][]string{{}, {"-name", "x", "-cpus", "a"}, {"-bogus"}} {
		var errb bytes.Buffer
		if code := ServerMain(args, strings.NewReader(""), io.Discard, &errb); code != 2 {
			t.Errorf("%q: exit %d (%s)", args, code, errb.String())
		}
	}
	var errb bytes.Buffer
	if code := ServerMain([]string{"-name", "a/b"}, strings.NewReader(""), io.Discard, &errb); code != 1 || !strings.Contains(errb.String(), "invalid name") {
		t.Errorf("bad name: exit %d (%s)", code, errb.String())
	}
}
