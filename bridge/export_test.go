package bridge

import (
	"errors"
	"testing"

	"github.com/nats-io/nats.go"
)

// TestBatcherSendFails: when sending a batch fails as a message that
// does not follow it comes (another source, or a gap), the message is not
// added to that batch - whose header would then give it the position
// after the batch's last - nor are later ones; the batch is sent as it
// was when Run tries it again.
func TestBatcherSendFails(t *testing.T) {
	type sent struct {
		seq, count string
		data       string
	}
	var got []sent
	fail := 0
	b := batcher{size: 1, m: nats.NewMsg("x"), buf: make([]byte, 0, 8), send: func(b *batcher, n int) error {
		if fail > 0 {
			fail--
			return errors.New("no route")
		}
		got = append(got, sent{b.m.Header.Get(hdrSeq), b.m.Header.Get(hdrCount), string(b.m.Data)})
		return nil
	}}
	b.add(1, 0, []byte("a"))
	b.add(1, 1, []byte("b"))
	fail = 1
	b.add(1, 5, []byte("f")) // a gap: the batch goes out first, and fails
	b.add(1, 6, []byte("g"))
	b.add(2, 0, []byte("z"))
	if b.err == nil {
		t.Fatal("the failed send not kept")
	}
	if err := b.flush(); err != nil { // as Run does before it returns
		t.Fatal(err)
	}
	if len(got) != 1 || got[0] != (sent{"0", "2", "ab"}) {
		t.Fatalf("sent %+v", got)
	}
}

// BenchmarkBatchFlush: one batch of 64 16-byte messages gathered and
// given to send (here a no-op: the header and body as NATS gets them).
func BenchmarkBatchFlush(b *testing.B) {
	bt := batcher{size: 16, m: nats.NewMsg("x"), buf: make([]byte, 0, 64*16), fp: 0x2009bacd873fa670, typ: "tick",
		send: func(*batcher, int) error { return nil }}
	v := make([]byte, 16)
	b.ReportAllocs()
	pos := uint64(0)
	for b.Loop() {
		for range 64 {
			bt.add(3, pos, v)
			pos++
		}
		if err := bt.flush(); err != nil {
			b.Fatal(err)
		}
	}
}

// TestBatchHeader: the kept header values are encodeHeader's, batch after
// batch, when the source changes and when it does not.
func TestBatchHeader(t *testing.T) {
	var bh batchHeader
	h := nats.Header{}
	for _, c := range []struct {
		source, seq uint64
		count       int
	}{{1, 0, 64}, {1, 64, 3}, {0xfedcba9876543210, 0, 1}, {0xfedcba9876543210, 1<<64 - 2, 2}, {1, 5, 7}} {
		bh.set(h, 0x2009bacd873fa670, "tick", c.source, c.seq, c.count)
		want := nats.Header{}
		encodeHeader(want, 0x2009bacd873fa670, "tick", c.source, c.seq, c.count)
		if len(h) != len(want) {
			t.Fatalf("%+v: header %v, want %v", c, h, want)
		}
		for k, v := range want {
			if len(h[k]) != 1 || h[k][0] != v[0] {
				t.Fatalf("%+v: header %v, want %v", c, h, want)
			}
		}
	}
	if hex16(0xa) != "000000000000000a" || hex16(1<<64-1) != "ffffffffffffffff" {
		t.Fatalf("hex16: %s %s", hex16(0xa), hex16(1<<64-1))
	}
}
