package asm_test

import (
	"fmt"
	"runtime"
	"sync/atomic"

	"github.com/spinwire/spinwire/asm"
)

// A consumer busy-polls a sequence number: the load and the compare in Go,
// one Pause per idle iteration.
func ExamplePause() {
	var seq atomic.Uint64
	go seq.Store(1) // the producer

	for seq.Load() == 0 { // a real loop also bounds its time and yields a preemption point
		asm.Pause()
	}
	fmt.Println("sequence", seq.Load())
	// Output: sequence 1
}

// Time a piece of work with the TSC instead of time.Now. TicksPerSecond is
// called once at start-up: its first call calibrates for 100 ms.
func ExampleTicksToNanos() {
	asm.TicksPerSecond() // calibrate off the hot path

	t0 := asm.Ticks()
	sum := 0
	for i := range 1000 {
		sum += i
	}
	elapsed := asm.TicksToNanos(asm.Ticks() - t0)

	fmt.Println(sum, elapsed > 0 && elapsed < 1e9)
	// Output: 499500 true
}

// TicksP says which CPU the counter was read on; a pinned spinner can check
// that it still runs where it was put.
func ExampleTicksP() {
	_, cpu := asm.TicksP()
	fmt.Println(int(cpu) < runtime.NumCPU())
	// Output: true
}

// Copy a message into a slot and publish it: the copy first, then one
// release store of the sequence that the consumer loads with
// sync/atomic.LoadUint64.
func ExampleStoreRelease64() {
	var (
		slot [256]byte
		seq  uint64
	)
	msg := []byte("fill 100 @ 42.17")

	n := asm.Copy(slot[:], msg)
	asm.StoreRelease64(&seq, 1) // SYNC: publishes slot; pairs with the consumer's LoadUint64

	if atomic.LoadUint64(&seq) == 1 { // the consumer's side
		fmt.Printf("%d bytes: %s\n", n, slot[:n])
	}
	// Output: 16 bytes: fill 100 @ 42.17
}

// Copy behaves like the builtin copy: it copies min(len(dst), len(src))
// bytes, overlapping slices included.
func ExampleCopy() {
	payload := make([]byte, 300)
	for i := range payload {
		payload[i] = byte(i)
	}
	slot := make([]byte, 512)
	n := asm.Copy(slot, payload)
	fmt.Println(n, slot[0], slot[299], slot[300])

	short := make([]byte, 4)
	fmt.Println(asm.Copy(short, payload), short)
	// Output:
	// 300 0 43 0
	// 4 [0 1 2 3]
}
