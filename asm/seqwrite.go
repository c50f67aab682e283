package asm

import (
	"sync/atomic"
	"unsafe"
)

// SeqWrite writes and publishes one seqlock record in a single call, in
// this order: 0 into *seq (the record withdrawn), the words 8-byte words
// at src into the words that follow seq in memory, then v into *seq (the
// record published) and v into *tail. Each store is a release: a reader
// that loads v from *seq, copies the words and loads *seq again has a
// good copy if it read v both times.
//
// It is the three StoreRelease64 stores and the copy of a seqlock writer
// in one: on amd64 one assembly call of plain MOVs, which x86-TSO keeps in
// program order. The words move 8 bytes at a time: a message its
// publisher has just filled field by field is still in the store buffer,
// and a 16-byte load of two 8-byte stores cannot be forwarded from it
// (the load waits for the stores to reach the cache; the builtin copy's
// 16-byte moves pay that). Elsewhere, with noasm and under -race it is
// sync/atomic stores, word by word (ordered on weakly ordered processors
// too, and seen by the race detector).
//
// Cost, one thread, MAP_SHARED memory hot in L1, the record's first word
// set just before, EPYC (Zen 5) VM, BenchmarkSeqWrite impl=asm against
// impl=calls (three StoreRelease64 around a typed copy: what it
// replaces), medians of 3 runs, when StoreRelease64 was an assembly call:
//
//	record     56 B     128 B    256 B    1 KiB
//	asm        4.45     6.10     8.99     25.8 ns
//	calls      6.40     6.90     8.40     16.7 ns
//
// and with StoreRelease64 inlined (a later session): 56 B 3.95 against
// 5.59 ns, 128 B 6.16 against 6.18 — SeqWrite still wins where topic
// uses it.
//
// seq, src and tail must be 8-byte aligned, and words ≥ 0 (fewer is
// none); the words after seq must be the caller's to write. Meant for
// short records: from 256 bytes on the builtin copy wins, and topic uses
// SeqWrite up to 128.
func SeqWrite(seq *uint64, src unsafe.Pointer, words int, v uint64, tail *uint64) {
	if raceEnabled || !seqWriteMOV {
		seqWriteGeneric(seq, src, words, v, tail)
		return
	}
	seqWrite(seq, src, words, v, tail)
}

// seqWriteGeneric is the reference for seqWrite: sync/atomic stores.
func seqWriteGeneric(seq *uint64, src unsafe.Pointer, words int, v uint64, tail *uint64) {
	atomic.StoreUint64(seq, 0)
	dst := unsafe.Add(unsafe.Pointer(seq), 8)
	for i := range max(words, 0) {
		atomic.StoreUint64((*uint64)(unsafe.Add(dst, 8*i)), *(*uint64)(unsafe.Add(src, 8*i)))
	}
	atomic.StoreUint64(seq, v)
	atomic.StoreUint64(tail, v)
}
