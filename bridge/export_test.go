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
