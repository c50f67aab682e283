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
