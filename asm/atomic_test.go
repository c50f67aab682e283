package asm

import (
	"sync/atomic"
	"testing"
	"unsafe"
)

// publishLines is a ping line and a pong line, 128 bytes apart so the
// adjacent-line prefetcher does not pair them, in MAP_SHARED memory.
func publishLines(b *testing.B) (ping, pong *uint64, slots []byte) {
	m := mmapShared(b, 4096)
	base := unsafe.Pointer(unsafe.SliceData(m))
	return (*uint64)(base), (*uint64)(unsafe.Add(base, 128)), m[256:]
}

const stopValue = ^uint64(0)

// responder echoes every new value of *ping into *pong on the other CPU until
// it reads stopValue. It uses sync/atomic or the assembly pair as asm says.
func responder(cpu int, ping, pong *uint64, asmOps bool, ready chan error, done chan struct{}) {
	defer close(done)
	unpin, err := pinThread(cpu)
	ready <- err
	if err != nil {
		return
	}
	defer unpin()
	var last, n uint64
	start := nanotime()
	for {
		var v uint64
		if asmOps {
			v = loadAcquire64(ping)
		} else {
			v = atomic.LoadUint64(ping)
		}
		if v == last {
			if expired(&n, start) {
				return
			}
			continue
		}
		if v == stopValue {
			return
		}
		last = v
		if asmOps {
			storeRelease64(pong, v)
		} else {
			atomic.StoreUint64(pong, v)
		}
	}
}

// consumer polls *cursor with sync/atomic until it reads stopValue: the far
// side of a one-way stream, pulling the cursor's line after every store.
func consumer(cpu int, cursor *uint64, slots []byte, ready chan error, done chan struct{}) {
	defer close(done)
	unpin, err := pinThread(cpu)
	ready <- err
	if err != nil {
		return
	}
	defer unpin()
	var n, sum uint64
	start := nanotime()
	for {
		v := atomic.LoadUint64(cursor)
		if v == stopValue {
			return
		}
		sum += uint64(slots[(v&15)*64]) // touch the published slot, as a reader would
		if expired(&n, start) {
			return
		}
	}
}

// BenchmarkPublish decides whether StoreRelease64/LoadAcquire64 (plain MOV
// in assembly) earn their place against sync/atomic (XCHG store, inlined MOV
// load). Two goroutines locked to threads pinned on two CPUs:
//
//   - roundtrip: ping-pong of a counter through two lines 128 bytes apart;
//     ns/op is one round trip.
//   - oneway: the producer stores an increasing cursor while the consumer
//     polls it; ns/op is the producer's cost per store.
//   - oneway-msg64: as oneway, but each store publishes a 64-byte message
//     copied into one of 16 slots first.
//
// impl=atomic: sync/atomic on both sides. impl=asm: the assembly MOV store
// and load on both sides. impl=asmstore: assembly store, sync/atomic load.
func BenchmarkPublish(b *testing.B) {
	for _, impl := range []string{"atomic", "asm", "asmstore"} {
		b.Run("roundtrip/impl="+impl, func(b *testing.B) { benchRoundtrip(b, impl) })
	}
	for _, msg := range []bool{false, true} {
		for _, impl := range []string{"atomic", "asmstore"} {
			name := "oneway/impl=" + impl
			if msg {
				name = "oneway-msg64/impl=" + impl
			}
			b.Run(name, func(b *testing.B) { benchOneway(b, impl, msg) })
		}
	}
}

// benchRoundtrip is BenchmarkPublish/roundtrip: ping on this CPU, pong from
// the responder on another.
func benchRoundtrip(b *testing.B, impl string) {
	cpuA, cpuB := twoCPUs(b)
	ping, pong, _ := publishLines(b)
	ready, done := make(chan error, 1), make(chan struct{})
	go responder(cpuB, ping, pong, impl == "asm", ready, done)
	if err := <-ready; err != nil {
		b.Fatal(err)
	}
	defer pin(b, cpuA)()
	b.ReportAllocs()
	var i, n uint64
	start := nanotime()
	for b.Loop() {
		i++
		switch impl {
		case "atomic":
			atomic.StoreUint64(ping, i)
			for atomic.LoadUint64(pong) != i {
				if expired(&n, start) {
					b.Fatal("responder stopped answering")
				}
			}
		case "asm":
			storeRelease64(ping, i)
			for loadAcquire64(pong) != i {
				if expired(&n, start) {
					b.Fatal("responder stopped answering")
				}
			}
		case "asmstore":
			storeRelease64(ping, i)
			for atomic.LoadUint64(pong) != i {
				if expired(&n, start) {
					b.Fatal("responder stopped answering")
				}
			}
		}
	}
	b.StopTimer()
	atomic.StoreUint64(ping, stopValue)
	<-done
}

// benchOneway is BenchmarkPublish/oneway and oneway-msg64: this CPU
// publishes a cursor (after a 64-byte message when msg) that a consumer on
// another CPU polls.
func benchOneway(b *testing.B, impl string, msg bool) {
	cpuA, cpuB := twoCPUs(b)
	cursor, _, slots := publishLines(b)
	ready, done := make(chan error, 1), make(chan struct{})
	go consumer(cpuB, cursor, slots, ready, done)
	if err := <-ready; err != nil {
		b.Fatal(err)
	}
	defer pin(b, cpuA)()
	var m [64]byte
	b.ReportAllocs()
	if msg {
		b.SetBytes(64)
	}
	var i uint64
	for b.Loop() {
		i++
		if msg {
			m[0] = byte(i)
			copy(slots[(i&15)*64:], m[:])
		}
		if impl == "atomic" {
			atomic.StoreUint64(cursor, i)
		} else {
			storeRelease64(cursor, i)
		}
	}
	b.StopTimer()
	atomic.StoreUint64(cursor, stopValue)
	<-done
}

// BenchmarkStoreRelease and BenchmarkLoadAcquire time one uncontended
// access on one thread (the line stays in this core's L1).
func BenchmarkStoreRelease(b *testing.B) {
	var x [2]uint64
	b.Run("impl=atomic", func(b *testing.B) {
		b.ReportAllocs()
		var i uint64
		for b.Loop() {
			i++
			atomic.StoreUint64(&x[0], i)
		}
	})
	b.Run("impl=asm", func(b *testing.B) {
		b.ReportAllocs()
		var i uint64
		for b.Loop() {
			i++
			storeRelease64(&x[0], i)
		}
	})
	b.Run("impl=inline", func(b *testing.B) {
		b.ReportAllocs()
		var i uint64
		for b.Loop() {
			i++
			StoreRelease64(&x[0], i)
		}
	})
}

func BenchmarkLoadAcquire(b *testing.B) {
	var x [2]uint64
	var sink uint64
	b.Run("impl=atomic", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			sink += atomic.LoadUint64(&x[0])
		}
	})
	b.Run("impl=asm", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			sink += loadAcquire64(&x[0])
		}
	})
	_ = sink
}

func TestStoreRelease64MatchesGeneric(t *testing.T) {
	var x, y [2]uint64
	for _, v := range []uint64{0, 1, 1 << 32, 1<<63 | 5, ^uint64(0)} {
		StoreRelease64(&x[1], v)
		atomic.StoreUint64(&y[1], v)
		if got, want := atomic.LoadUint64(&x[1]), atomic.LoadUint64(&y[1]); got != want {
			t.Errorf("StoreRelease64(%#x): read %#x, sync/atomic %#x", v, got, want)
		}
		storeRelease64(&x[0], v)
		if got := loadAcquire64(&x[0]); got != v {
			t.Errorf("storeRelease64/loadAcquire64(%#x): read %#x", v, got)
		}
		if x[0] != v || x[1] != v {
			t.Errorf("neighbours: %#x %#x, want %#x", x[0], x[1], v)
		}
	}
}

// TestStoreRelease64Ordering is message passing between two pinned CPUs: the
// producer writes a payload word with a plain store into shared memory, then
// publishes its sequence with StoreRelease64; a consumer that acquires a
// sequence must see a payload at least that new. Bounded to 200 000
// messages (20 000 with -short).
func TestStoreRelease64Ordering(t *testing.T) {
	m := mmapShared(t, 4096)
	base := unsafe.Pointer(unsafe.SliceData(m))
	seq := (*uint64)(base)
	payload := (*uint64)(unsafe.Add(base, 128)) // another line pair
	n := orderingRounds()
	crossCPU(t, func() (string, bool) {
		s := atomic.LoadUint64(seq) // SYNC: acquires the payload; pairs with StoreRelease64 below
		if p := *payload; p < s {
			return "consumer saw sequence " + itoa(s) + " with older payload " + itoa(p), true
		}
		return "", s == n
	}, func() {
		for i := uint64(1); i <= n; i++ {
			*payload = i
			StoreRelease64(seq, i) // SYNC: publishes the payload; pairs with the consumer's LoadUint64
		}
	})
}

func itoa(v uint64) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + v%10)
		v /= 10
		if v == 0 {
			return string(b[i:])
		}
	}
}

// TestStoreFenceOrdering is a seqlock between two pinned CPUs: the writer
// withdraws the record (0 in its sequence), fences, rewrites the payload
// with a plain store and publishes the new sequence; a reader that reads
// the same sequence before and after the payload must see that
// sequence's payload, never the next one. Only a weakly ordered CPU can
// fail it without the fence (on amd64 StoreFence is nothing and TSO keeps
// the order). Bounded as TestStoreRelease64Ordering.
func TestStoreFenceOrdering(t *testing.T) {
	m := mmapShared(t, 4096)
	base := unsafe.Pointer(unsafe.SliceData(m))
	seq := (*uint64)(base)
	payload := (*uint64)(unsafe.Add(base, 128))
	n := orderingRounds()
	crossCPU(t, func() (string, bool) {
		s := atomic.LoadUint64(seq) // SYNC: the seqlock's loads; pair with the writer's stores below
		p := atomic.LoadUint64(payload)
		if s != 0 && atomic.LoadUint64(seq) == s && p != s {
			return "sequence " + itoa(s) + " read twice around payload " + itoa(p), true
		}
		return "", s == n
	}, func() {
		for i := uint64(1); i <= n; i++ {
			StoreRelease64(seq, 0) // SYNC: the withdrawal; StoreFence keeps the payload after it
			StoreFence()
			*payload = i
			StoreRelease64(seq, i) // SYNC: the publication
		}
	})
	if a := testing.AllocsPerRun(100, StoreFence); a != 0 {
		t.Errorf("StoreFence: %v allocations", a)
	}
	storeFenceGeneric() // the reference runs (it has no effect to compare)
}
