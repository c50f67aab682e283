package bridge

import (
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/spinwire/spinwire/layout"
)

// FuzzReceive: whatever headers and body a NATS message on an imported
// subject carries, the importer neither panics nor publishes anything but
// whole messages of its size, and every NATS message is either accepted
// (a batch) or counted as refused, duplicate or failed — the counters add
// up to what it published.
func FuzzReceive(f *testing.F) {
	sc := layout.MustOf[tick]()
	size := int(sc.Size)
	body := make([]byte, 3*size)
	f.Add(true, "", "", "", "", body)
	f.Add(true, hex16(sc.Fingerprint), hex16(1), "0", "3", body)
	f.Add(true, hex16(sc.Fingerprint), hex16(1), "18446744073709551615", "3", body)
	f.Add(true, hex16(sc.Fingerprint^1), hex16(1), "0", "3", body)
	f.Add(true, hex16(sc.Fingerprint), "x", "-1", "65537", body[:7])
	f.Add(true, hex16(sc.Fingerprint), hex16(2), "5", "0", body[:0])
	f.Add(false, "", "", "", "", []byte(nil))
	f.Fuzz(func(t *testing.T, hdr bool, fp, source, seq, count string, data []byte) {
		published := 0
		im := &RawImporter{schema: sc, size: size, next: map[uint64]uint64{}, publish: func(b []byte) error {
			if len(b) != size {
				t.Fatalf("published %d bytes, the message has %d", len(b), size)
			}
			published++
			return nil
		}}
		for range 2 { // the second time, a replay
			m := nats.NewMsg("md.fuzz")
			if hdr {
				m.Header.Set(hdrFingerprint, fp)
				m.Header.Set(hdrType, "tick")
				m.Header.Set(hdrSource, source)
				m.Header.Set(hdrSeq, seq)
				m.Header.Set(hdrCount, count)
			} else {
				m.Header = nil
			}
			m.Data = data
			if im.receive(m) != handled {
				t.Fatal("a refused batch left unacknowledged")
			}
		}
		// Each receive is refused (malformed or mismatched) or accepted;
		// the replay of an accepted batch is all duplicates.
		st := im.Stats()
		refused := st.Malformed + st.Mismatched
		switch {
		case st.Messages != uint64(published) || st.Lost != 0 || st.Errors != 0:
			t.Fatalf("published %d, stats %+v", published, st)
		case st.Batches == 0 && (refused != 2 || published != 0):
			t.Fatalf("neither refused nor accepted: %+v", st)
		case st.Batches == 1 && (refused != 0 || published == 0 || st.Duplicates != st.Messages):
			t.Fatalf("accepted, then the replay: %+v", st)
		case st.Batches > 1:
			t.Fatalf("the replay accepted: %+v", st)
		}
	})
}

// TestReceiveAllocs: an importer takes a batch - published, duplicate,
// malformed or of another type - without allocating.
func TestReceiveAllocs(t *testing.T) {
	sc := layout.MustOf[tick]()
	im := &RawImporter{schema: sc, size: int(sc.Size), next: map[uint64]uint64{}, publish: func([]byte) error { return nil }}
	batch := func(fp, seq uint64, count int) *nats.Msg {
		m := nats.NewMsg("md.allocs")
		encodeHeader(m.Header, fp, sc.Name, 5, seq, count)
		m.Data = make([]byte, count*int(sc.Size))
		return m
	}
	seq := uint64(0)
	cases := map[string]func() *nats.Msg{
		"published":  func() *nats.Msg { seq += 64; return batch(sc.Fingerprint, seq-64, 64) },
		"duplicate":  func() *nats.Msg { return batch(sc.Fingerprint, 0, 64) },
		"malformed":  func() *nats.Msg { m := batch(sc.Fingerprint, 0, 64); m.Data = m.Data[:7]; return m },
		"mismatched": func() *nats.Msg { return batch(sc.Fingerprint^1, 0, 64) },
	}
	for name, next := range cases {
		msgs := make([]*nats.Msg, 101)
		for i := range msgs {
			msgs[i] = next()
		}
		i := 0
		if n := testing.AllocsPerRun(100, func() { im.receive(msgs[i]); i++ }); n != 0 {
			t.Errorf("%s: %v allocations a batch", name, n)
		}
	}
	if st := im.Stats(); st.Messages != 101*64 || st.Duplicates != 101*64 || st.Malformed != 101 || st.Mismatched != 101 {
		t.Fatalf("%+v", st)
	}
}
