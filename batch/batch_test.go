package batch

import (
	"math/rand/v2"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/spinwire/spinwire/layout"
	"github.com/spinwire/spinwire/spin"
)

type msg struct {
	Seq  uint64
	Body [7]uint64
}

func ring(tb testing.TB, capacity int, p spin.Protocol) *spin.Ring[msg] {
	tb.Helper()
	n, _, err := spin.RingLength[msg](capacity, p)
	if err != nil {
		tb.Fatal(err)
	}
	seg, err := layout.Create(n, layout.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { seg.Close() })
	r, err := spin.NewRing[msg](seg.Body()[:n], spin.RingOptions{Capacity: capacity, Protocol: p})
	if err != nil {
		tb.Fatal(err)
	}
	return r
}

var protocols = []spin.Protocol{spin.InSlot, spin.Cursors}

func TestPublisher(t *testing.T) {
	for _, p := range protocols {
		t.Run(p.String()+"/claim_fill_commit", func(t *testing.T) {
			r := ring(t, 8, p)
			pub := NewPublisher(r)
			if k := pub.Claim(5); k != 5 || pub.Pending() != 5 {
				t.Fatalf("claimed %d", k)
			}
			for i := range 5 {
				pub.Slot(i).Seq = uint64(i)
			}
			if pub.Slot(5) != nil || pub.Slot(-1) != nil {
				t.Fatal("slot out of range")
			}
			if r.Ready() {
				t.Fatal("visible before commit")
			}
			pub.Commit()
			var got []uint64
			if n := Drain(r, 0, func(m *msg) { got = append(got, m.Seq) }); n != 5 || got[4] != 4 {
				t.Fatalf("drained %d: %v", n, got)
			}
		})
		t.Run(p.String()+"/claim_is_bounded_by_room", func(t *testing.T) {
			r := ring(t, 8, p)
			pub := NewPublisher(r)
			pub.Claim(6)
			pub.Commit()
			if k := pub.Claim(6); k != 2 {
				t.Fatalf("claimed %d with 2 free", k)
			}
			pub.Abort()
			if r.Len() != 6 || pub.Pending() != 0 {
				t.Fatalf("abort published: len %d", r.Len())
			}
			Drain(r, 0, func(*msg) {})
			if pub.Claim(0) != 0 || pub.Claim(100) != 8 {
				t.Fatal("claim bounds")
			}
		})
		t.Run(p.String()+"/claim_again_sizes_the_whole_batch", func(t *testing.T) {
			r := ring(t, 8, p)
			pub := NewPublisher(r)
			for _, c := range []struct{ n, want int }{{4, 4}, {2, 4}, {0, 4}, {-1, 4}, {6, 6}} {
				if k := pub.Claim(c.n); k != c.want || pub.Pending() != c.want {
					t.Fatalf("Claim(%d) = %d, pending %d; want %d", c.n, k, pub.Pending(), c.want)
				}
			}
			pub.Commit()
			if r.Len() != 6 || pub.Pending() != 0 {
				t.Fatalf("committed %d", r.Len())
			}
		})
		t.Run(p.String()+"/random_batches_cross_goroutine", func(t *testing.T) {
			r := ring(t, 64, p)
			const n = 200_000
			var wg sync.WaitGroup
			wg.Go(func() {
				pub := NewPublisher(r)
				rng := rand.New(rand.NewPCG(1, 2))
				deadline := time.Now().Add(30 * time.Second)
				for seq := uint64(0); seq < n && time.Now().Before(deadline); {
					k := pub.Claim(min(1+rng.IntN(64), int(n-seq)))
					if k == 0 {
						runtime.Gosched() // the consumer may need this CPU
					}
					for i := range k {
						pub.Slot(i).Seq = seq + uint64(i)
					}
					seq += uint64(k)
					pub.Commit()
				}
			})
			var want uint64
			deadline := time.Now().Add(30 * time.Second)
			for want < n && time.Now().Before(deadline) {
				if Drain(r, 1+int(want%17), func(m *msg) {
					if m.Seq != want {
						t.Fatalf("got %d want %d", m.Seq, want)
					}
					want++
				}) == 0 {
					runtime.Gosched()
				}
			}
			wg.Wait()
			if want != n {
				t.Fatalf("got %d of %d", want, n)
			}
		})
	}
}

func TestBatcher(t *testing.T) {
	r := ring(t, 8, spin.Cursors)
	b := NewBatcher(r, 3, 0)
	for i := range 2 {
		if !b.Add(&msg{Seq: uint64(i)}) {
			t.Fatal("add")
		}
	}
	if r.Ready() || b.Pending() != 2 {
		t.Fatal("flushed before the batch was full")
	}
	b.Add(&msg{Seq: 2})
	if r.Len() != 3 || b.Pending() != 0 {
		t.Fatalf("size policy: len %d", r.Len())
	}
	b.Add(&msg{Seq: 3})
	if b.Tick() != 0 || b.Flush() != 1 || b.Flush() != 0 {
		t.Fatal("flush")
	}
	for i := 4; i < 8; i++ {
		b.Add(&msg{Seq: uint64(i)})
	}
	if b.Add(&msg{Seq: 99}) {
		t.Fatal("add into a full ring")
	}
	if r.Len() != 8 {
		t.Fatalf("a full ring flushes what is pending: len %d", r.Len())
	}
	var got []uint64
	Drain(r, 0, func(m *msg) { got = append(got, m.Seq) })
	for i, s := range got {
		if s != uint64(i) {
			t.Fatalf("order %v", got)
		}
	}
	// Time policy: a 1-tick bound flushes on the next Add or Tick.
	tb := NewBatcher(r, 100, 1)
	tb.Add(&msg{})
	for tb.Pending() != 0 {
		tb.Tick()
	}
	if r.Len() != 1 {
		t.Fatal("time policy did not flush")
	}
}

func TestZeroAllocs(t *testing.T) {
	r := ring(t, 64, spin.InSlot)
	pub := NewPublisher(r)
	bt := NewBatcher(r, 4, 0)
	fn := func(*msg) {}
	m := msg{}
	if a := testing.AllocsPerRun(1000, func() {
		k := pub.Claim(4)
		for i := range k {
			pub.Slot(i).Seq = 1
		}
		pub.Commit()
		for range 4 {
			bt.Add(&m)
		}
		Drain(r, 0, fn)
	}); a != 0 {
		t.Fatalf("%v allocs", a)
	}
}
