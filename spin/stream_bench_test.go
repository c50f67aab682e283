package spin

import (
	"encoding/binary"
	"fmt"
	"testing"
	"time"
	"unsafe"

	"github.com/spinwire/spinwire/affinity"
	"github.com/spinwire/spinwire/asm"
)

// Stream benchmarks: one producer goroutine and one consumer goroutine,
// pinned to two CPUs, moving b.N messages one way through a ring in one
// segment. A message's size is its bytes in shared memory, as pingpong's
// -size counts them: under InSlot the slot's 8-byte sequence is part of
// it, under Cursors the message fills its slot, in a Log the 8-byte record
// header is. The producer copies each message in from private memory and
// the consumer copies it out and, when it finds nothing, pauses once
// (BusySpin, as an agent's consumer would) — the work floor_stream does in
// C, so the two compare (pingpong -mode throughput runs both in one run).

// words is a message of N uint64 words; the first carries the position.
type (
	w7   [7]uint64
	w8   [8]uint64
	w31  [31]uint64
	w32  [32]uint64
	w127 [127]uint64
	w128 [128]uint64
	w511 [511]uint64
	w512 [512]uint64
)

// BenchmarkRingStream reports msgs/s and ns/msg for every protocol, size
// (64…4096 bytes) and batch (1, 64). Batch 1 publishes with TryPublish,
// batch 64 with ClaimN, Claimed and Commit.
func BenchmarkRingStream(b *testing.B) {
	for _, batch := range []int{1, 64} {
		run := func(name string, f func(*testing.B, Protocol, int)) {
			for _, proto := range protocols {
				b.Run(fmt.Sprintf("proto=%v/%s/batch=%d", proto, name, batch), func(b *testing.B) { f(b, proto, batch) })
			}
		}
		run("size=64", streamBySize[w7, w8])
		run("size=256", streamBySize[w31, w32])
		run("size=1024", streamBySize[w127, w128])
		run("size=4096", streamBySize[w511, w512])
	}
}

// streamBySize runs the message type whose size is the benchmark's under
// the protocol: I under InSlot (the sequence fills the slot), C under
// Cursors.
func streamBySize[I, C any](b *testing.B, proto Protocol, batch int) {
	if proto == InSlot {
		benchStream[I](b, proto, batch)
	} else {
		benchStream[C](b, proto, batch)
	}
}

// pinned runs fn on a goroutine locked and pinned to cpu.
func pinned(cpu int, fn func()) {
	undo, err := affinity.Pin(cpu)
	if err != nil {
		panic(err)
	}
	defer undo()
	fn()
}

func benchStream[T any](b *testing.B, proto Protocol, batch int) {
	ca, cb := needCPUs(b)
	r := newRing[T](b, 1024, proto)
	done := make(chan uint64)
	go pinned(cb, func() {
		var got uint64
		var cp T
		n := uint64(b.N)
		deadline := time.Now().Add(time.Minute)
		for i := 0; got < n; i++ {
			k := r.Poll(0, func(m *T) {
				if unsafe.Sizeof(cp) >= WideCopy {
					r.Copy(&cp, m)
				} else {
					cp = *m // inlines, where Copy's becomes a call
				}
				if *(*uint64)(unsafe.Pointer(&cp)) != got {
					panic("out of order")
				}
				got++
			})
			BusySpin{}.Idle(k)
			if k == 0 && i&0xffff == 0 && time.Now().After(deadline) {
				break
			}
		}
		done <- got
	})
	var src T
	var sent int
	pinned(ca, func() {
		b.SetBytes(int64(unsafe.Sizeof(src)))
		b.ResetTimer()
		for sent < b.N && batch == 1 {
			*(*uint64)(unsafe.Pointer(&src)) = uint64(sent)
			if r.TryPublish(&src) {
				sent++
			}
		}
		for sent < b.N {
			k := r.ClaimN(min(batch, b.N-sent))
			for i := range k {
				*(*uint64)(unsafe.Pointer(&src)) = uint64(sent + i)
				if unsafe.Sizeof(src) >= WideCopy {
					r.Copy(r.Claimed(i), &src)
				} else {
					*r.Claimed(i) = src
				}
			}
			r.Commit()
			sent += k
		}
	})
	if got := <-done; got != uint64(b.N) {
		b.Fatalf("received %d of %d", got, b.N)
	}
	reportRate(b)
}

// reportRate adds msgs/s and ns/msg to a stream benchmark's result.
func reportRate(b *testing.B) {
	b.StopTimer()
	if s := b.Elapsed().Seconds(); s > 0 {
		b.ReportMetric(float64(b.N)/s, "msgs/s")
		b.ReportMetric(b.Elapsed().Seconds()*1e9/float64(b.N), "ns/msg")
	}
}

// BenchmarkLogStream is BenchmarkRingStream for a Log: records of size
// bytes, header included, written with Claim/Commit (batch records per
// commit) and copied out by the consumer.
//
// typed/: 64-byte records whose payload is a [7]uint64, claimed with
// Records.Claim and filled with a typed copy, read with Records.Of;
// typedn/: the same claimed with Records.ClaimN. line/: 64-byte byte
// records whose payload the producer copies in with asm.CopyLine instead
// of asm.Copy; claimn/: the same claimed with ClaimN.
func BenchmarkLogStream(b *testing.B) {
	for _, batch := range []int{1, 64} {
		for _, size := range []int{64, 256, 1024, 4096} {
			b.Run(fmt.Sprintf("size=%d/batch=%d", size, batch), func(b *testing.B) { benchLogStream(b, size, batch, logFillCopy) })
		}
		b.Run(fmt.Sprintf("line/size=64/batch=%d", batch), func(b *testing.B) { benchLogStream(b, 64, batch, logFillLine) })
		b.Run(fmt.Sprintf("claimn/size=64/batch=%d", batch), func(b *testing.B) { benchLogStream(b, 64, batch, logFillClaimN) })
		b.Run(fmt.Sprintf("typed/size=64/batch=%d", batch), func(b *testing.B) { benchRecordsStream(b, batch, false) })
		b.Run(fmt.Sprintf("typedn/size=64/batch=%d", batch), func(b *testing.B) { benchRecordsStream(b, batch, true) })
	}
}

// benchRecordsStream is benchLogStream for Records[w7], claimed one at a
// time or, with claimN, a batch at a time; its loops repeat
// benchLogStream's on purpose (see BenchmarkMPSCStream).
func benchRecordsStream(b *testing.B, batch int, claimN bool) {
	ca, cb := needCPUs(b)
	n, _ := LogLength(1 << 16)
	l, err := NewLog(region(b, n), 1<<16)
	if err != nil {
		b.Fatal(err)
	}
	recs, err := RecordsOf[w7](l, DefaultRecordType)
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan uint64)
	go pinned(cb, func() {
		var got uint64
		var cp w7
		deadline := time.Now().Add(time.Minute)
		for i := 0; got < uint64(b.N); i++ {
			k := l.Poll(0, func(typ uint32, p []byte) {
				if m := recs.Of(typ, p); m != nil {
					cp = *m
				}
				if cp[0] != got {
					panic("out of order")
				}
				got++
			})
			BusySpin{}.Idle(k)
			if k == 0 && i&0xffff == 0 && time.Now().After(deadline) {
				break
			}
		}
		done <- got
	})
	var src w7
	pinned(ca, func() {
		b.SetBytes(64)
		b.ResetTimer()
		deadline := time.Now().Add(time.Minute)
		for sent, i := 0, 0; sent < b.N; i++ {
			k := 0
			if claimN {
				c := recs.ClaimN(min(batch, b.N-sent))
				for ; k < c.Len(); k++ {
					m := c.At(k)
					*m = src
					m[0] = uint64(sent + k)
				}
			} else {
				for ; k < batch && sent+k < b.N; k++ {
					m := recs.Claim()
					if m == nil {
						break
					}
					*m = src
					m[0] = uint64(sent + k)
				}
			}
			l.Commit() // the batch: one release store
			sent += k
			if k == 0 && i&0xffff == 0 && time.Now().After(deadline) {
				break // the consumer stopped: the count below fails
			}
		}
	})
	if got := <-done; got != uint64(b.N) {
		b.Fatalf("received %d of %d", got, b.N)
	}
	reportRate(b)
}

// benchLogStream streams size-byte records (a size−8-byte payload) in
// batches; the producer claims and fills each batch with fill.
func benchLogStream(b *testing.B, size, batch int, fill func(l *Log, src []byte, sent, want int) int) {
	ca, cb := needCPUs(b)
	payload := size - RecordHeaderLength
	capacity := 1 << 16
	for capacity < 1024*size {
		capacity <<= 1
	}
	n, _ := LogLength(capacity)
	l, err := NewLog(region(b, n), capacity)
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan uint64)
	go pinned(cb, func() {
		var got uint64
		cp := make([]byte, payload)
		deadline := time.Now().Add(time.Minute)
		for i := 0; got < uint64(b.N); i++ {
			k := l.Poll(0, func(_ uint32, m []byte) {
				asm.Copy(cp, m)
				if binary.LittleEndian.Uint64(cp) != got {
					panic("out of order")
				}
				got++
			})
			BusySpin{}.Idle(k)
			if k == 0 && i&0xffff == 0 && time.Now().After(deadline) {
				break
			}
		}
		done <- got
	})
	src := make([]byte, payload)
	deadline := time.Now().Add(time.Minute)
	pinned(ca, func() {
		b.SetBytes(int64(size))
		b.ResetTimer()
		for sent, i := 0, 0; sent < b.N; i++ {
			k := fill(l, src, sent, min(batch, b.N-sent))
			l.Commit() // the batch: one release store
			sent += k
			if k == 0 && i&0xffff == 0 && time.Now().After(deadline) {
				break // the consumer stopped: the count below fails
			}
		}
	})
	if got := <-done; got != uint64(b.N) {
		b.Fatalf("received %d of %d", got, b.N)
	}
	reportRate(b)
}

// logFillCopy claims up to want records of len(src) bytes, stamps src with
// each one's sequence from sent and copies it in with asm.Copy; it returns
// how many it claimed.
func logFillCopy(l *Log, src []byte, sent, want int) int {
	k := 0
	for ; k < want; k++ {
		dst := l.Claim(len(src))
		if dst == nil {
			break
		}
		binary.LittleEndian.PutUint64(src, uint64(sent+k))
		asm.Copy(dst, src)
	}
	return k
}

// logFillLine is logFillCopy with asm.CopyLine: a loop of its own, since
// one holding both copies behind a branch is as slow as asm.Copy alone.
func logFillLine(l *Log, src []byte, sent, want int) int {
	k := 0
	for ; k < want; k++ {
		dst := l.Claim(len(src))
		if dst == nil {
			break
		}
		binary.LittleEndian.PutUint64(src, uint64(sent+k))
		asm.CopyLine(dst, src)
	}
	return k
}

// logFillClaimN is logFillLine with the batch claimed in one call.
func logFillClaimN(l *Log, src []byte, sent, want int) int {
	c := l.ClaimN(DefaultRecordType, len(src), want)
	for k := range c.Len() {
		binary.LittleEndian.PutUint64(src, uint64(sent+k))
		asm.CopyLine(c.At(k), src)
	}
	return c.Len()
}

// BenchmarkRingLocal is the per-message instruction cost of a Ring's
// producer and consumer paths with no cache line crossing CPUs: one
// goroutine publishes 256 messages (TryPublish, or ClaimN/Claimed/Commit
// one at a time) and then polls them out, copying each. trypublish and
// claim stamp each message's first word just before it goes in; prebuilt
// publishes the same message unstamped, as a producer whose message was
// built earlier (TryPublish's 16-byte loads wait on a word still in the
// store buffer: docs/benchmarks.md, tenth session). A stream's rate
// between two CPUs also depends on the host's cache-line transfers; this
// one does not, so it shows a change to either path on a noisy host.
func BenchmarkRingLocal(b *testing.B) {
	for _, api := range []string{"trypublish", "claim", "prebuilt"} {
		b.Run("api="+api, func(b *testing.B) {
			r := newRing[w7](b, 1024, InSlot)
			var src, cp w7
			var got uint64
			fn := func(m *w7) { cp = *m; got += cp[0] }
			b.ResetTimer()
			for sent := 0; sent < b.N; {
				k := min(256, b.N-sent)
				for i := range k {
					if api == "prebuilt" {
						r.TryPublish(&src) // no store into src just before its copy
						continue
					}
					src[0] = uint64(sent + i)
					if api == "trypublish" {
						r.TryPublish(&src)
					} else {
						r.ClaimN(1)
						*r.Claimed(0) = src
						r.Commit()
					}
				}
				r.Poll(0, fn)
				sent += k
			}
			reportRate(b)
		})
	}
}

// BenchmarkLogLocal is BenchmarkRingLocal for a Log: 64-byte records (a
// 56-byte payload), claimed and copied in batch at a time, one Commit per
// batch, then polled and copied out, all on one goroutine — the Log's
// instructions per record, without a cache line crossing CPUs.
func BenchmarkLogLocal(b *testing.B) {
	for _, batch := range []int{1, 64} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			n, _ := LogLength(1 << 16)
			l, err := NewLog(region(b, n), 1<<16)
			if err != nil {
				b.Fatal(err)
			}
			src, cp := make([]byte, 56), make([]byte, 56)
			var got uint64
			fn := func(_ uint32, m []byte) { asm.Copy(cp, m); got += binary.LittleEndian.Uint64(cp) }
			b.ResetTimer()
			for sent := 0; sent < b.N; {
				for k := 0; k < 256 && sent < b.N; k += batch {
					for range batch {
						asm.Copy(l.Claim(len(src)), src)
					}
					l.Commit()
					sent += batch
				}
				l.Poll(0, fn)
			}
			reportRate(b)
		})
	}
}

// BenchmarkMPSCStream is BenchmarkRingStream for an MPSC ring: one
// producer goroutine publishing 56-byte messages with TryPublish (a claim
// CAS and a commit CAS each), one consumer copying them out with Poll, on
// two pinned CPUs. Its consumer loop repeats benchStream's on purpose:
// taking the poll through a helper shared by both slowed
// BenchmarkRingStream. Either side gives up after a minute.
func BenchmarkMPSCStream(b *testing.B) {
	ca, cb := needCPUs(b)
	q := newMPSC[w7](b, 1024)
	done := make(chan uint64)
	go pinned(cb, func() {
		var got uint64
		var cp w7
		deadline := time.Now().Add(time.Minute)
		for i := 0; got < uint64(b.N); i++ {
			k := q.Poll(0, func(m *w7) {
				cp = *m
				if cp[0] != got {
					panic("out of order")
				}
				got++
			})
			BusySpin{}.Idle(k)
			if k == 0 && i&0xffff == 0 && time.Now().After(deadline) {
				break
			}
		}
		done <- got
	})
	var src w7
	pinned(ca, func() {
		b.SetBytes(int64(unsafe.Sizeof(src)))
		b.ResetTimer()
		deadline := time.Now().Add(time.Minute)
		for sent, i := 0, 0; sent < b.N; i++ {
			src[0] = uint64(sent)
			if q.TryPublish(&src) {
				sent++
			} else if i&0xffff == 0 && time.Now().After(deadline) {
				break // the consumer stopped: the count below fails
			}
		}
	})
	if got := <-done; got != uint64(b.N) {
		b.Fatalf("received %d of %d", got, b.N)
	}
	reportRate(b)
}
