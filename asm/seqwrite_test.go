package asm

import (
	"fmt"
	"sync/atomic"
	"testing"
	"unsafe"
)

// TestSeqWrite: for 0 to 9 words, SeqWrite and its reference leave the
// same bytes — the sequence and the tail at v, the words copied, the word
// after them untouched.
func TestSeqWrite(t *testing.T) {
	for words := range 10 {
		var src [9]uint64
		for i := range src {
			src[i] = uint64(i+1) * 0x0101_0101_0101_0101
		}
		got, want := make([]uint64, 12), make([]uint64, 12)
		for i := range got {
			got[i], want[i] = ^uint64(0), ^uint64(0)
		}
		var tailGot, tailWant uint64
		SeqWrite(&got[0], unsafe.Pointer(&src), words, 77, &tailGot)
		seqWriteGeneric(&want[0], unsafe.Pointer(&src), words, 77, &tailWant)
		if fmt.Sprint(got) != fmt.Sprint(want) || tailGot != 77 || tailWant != 77 {
			t.Fatalf("%d words: %x tail %d; reference %x tail %d", words, got, tailGot, want, tailWant)
		}
		if got[0] != 77 || got[words+1] != ^uint64(0) {
			t.Fatalf("%d words: sequence %d, next word %#x", words, got[0], got[words+1])
		}
		for i := range words {
			if got[1+i] != src[i] {
				t.Fatalf("%d words: word %d is %#x, want %#x", words, i, got[1+i], src[i])
			}
		}
	}
	var seq, tail uint64 = 5, 5
	SeqWrite(&seq, nil, -1, 6, &tail) // no words: nothing read, nothing written past seq
	if seq != 6 || tail != 6 {
		t.Fatalf("-1 words: sequence %d tail %d", seq, tail)
	}
}

// TestSeqWriteOrdering is a seqlock between two pinned CPUs in shared
// memory: the writer rewrites one 7-word record with SeqWrite, every word
// the record's number; a reader whose two sequence loads agree must have
// copied seven equal words of that number. Bounded to 200 000 records
// (20 000 with -short).
func TestSeqWriteOrdering(t *testing.T) {
	m := mmapShared(t, 4096)
	base := unsafe.Pointer(unsafe.SliceData(m))
	seq, tail := (*uint64)(base), (*uint64)(unsafe.Add(base, 256))
	n := orderingRounds()
	crossCPU(t, func() (string, bool) {
		s := atomic.LoadUint64(seq) // SYNC: acquire; pairs with SeqWrite's release of v
		var w [7]uint64
		for i := range w {
			w[i] = atomic.LoadUint64((*uint64)(unsafe.Add(base, 8+8*i)))
		}
		if s == 0 || atomic.LoadUint64(seq) != s { // SYNC: the seqlock's re-check
			return "", false
		}
		for i := range w {
			if w[i] != s {
				return "record " + itoa(s) + " read with word " + itoa(w[i]), true
			}
		}
		return "", s == n
	}, func() {
		var rec [7]uint64
		for i := uint64(1); i <= n; i++ {
			for j := range rec {
				rec[j] = i
			}
			SeqWrite(seq, unsafe.Pointer(&rec), len(rec), i, tail)
		}
	})
	if *tail != n {
		t.Fatalf("tail %d, want %d", *tail, n)
	}
}

// BenchmarkSeqWrite: one record of 56 bytes (and of 128, 256 and 1024,
// where callers may prefer runtime.memmove), its first word just set as a
// publisher fills its message, written and published into
// MAP_SHARED memory hot in L1 on one thread: impl=asm is SeqWrite,
// impl=calls what it replaces (StoreRelease64 of 0, a typed copy,
// StoreRelease64 of the sequence and of the tail), impl=generic the
// sync/atomic reference.
func BenchmarkSeqWrite(b *testing.B) {
	benchSeqWrite[[7]uint64](b)
	benchSeqWrite[[16]uint64](b)
	benchSeqWrite[[32]uint64](b)
	benchSeqWrite[[128]uint64](b)
}

func benchSeqWrite[R any](b *testing.B) {
	m := mmapShared(b, 4096)
	base := unsafe.Pointer(unsafe.SliceData(m))
	seq, tail := (*uint64)(base), (*uint64)(unsafe.Add(base, 2048))
	var r R
	words := int(unsafe.Sizeof(r) / 8)
	first := (*uint64)(unsafe.Pointer(&r)) // set before each write, as a publisher fills its message
	b.Run(fmt.Sprintf("size=%d/impl=asm", 8*words), func(b *testing.B) {
		for i := uint64(1); b.Loop(); i++ {
			*first = i
			SeqWrite(seq, unsafe.Pointer(&r), words, i, tail)
		}
	})
	b.Run(fmt.Sprintf("size=%d/impl=calls", 8*words), func(b *testing.B) {
		for i := uint64(1); b.Loop(); i++ {
			*first = i
			StoreRelease64(seq, 0)
			*(*R)(unsafe.Add(base, 8)) = r
			StoreRelease64(seq, i)
			StoreRelease64(tail, i)
		}
	})
	b.Run(fmt.Sprintf("size=%d/impl=generic", 8*words), func(b *testing.B) {
		for i := uint64(1); b.Loop(); i++ {
			*first = i
			seqWriteGeneric(seq, unsafe.Pointer(&r), words, i, tail)
		}
	})
}
