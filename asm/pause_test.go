package asm

import (
	"sync/atomic"
	"testing"
)

// TestPauseMatchesGeneric: Pause and Spin have no result to compare; they
// must return, for every count, with and without assembly.
func TestPauseMatchesGeneric(t *testing.T) {
	Pause()
	pauseGeneric()
	for _, n := range []int{-1, 0, 1, 2, 100} {
		Spin(n)
		spinGeneric(n)
	}
}

// TestPauseInSpinLoop runs the loop Pause's doc shows against a goroutine
// that sets the flag, bounded in time.
func TestPauseInSpinLoop(t *testing.T) {
	var flag atomic.Uint64
	go flag.Store(1)
	var n uint64
	start := nanotime()
	for flag.Load() == 0 {
		Pause()
		if expired(&n, start) {
			t.Fatal("flag never set")
		}
	}
}

func BenchmarkPause(b *testing.B) {
	b.Run("impl=asm", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			Pause()
		}
	})
	b.Run("impl=generic", func(b *testing.B) { // runtime.procyield(1)
		b.ReportAllocs()
		for b.Loop() {
			pauseGeneric()
		}
	})
}

func BenchmarkSpin(b *testing.B) {
	for _, impl := range []string{"asm", "generic"} {
		b.Run("impl="+impl+"/n=10", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if impl == "asm" {
					Spin(10)
				} else {
					spinGeneric(10)
				}
			}
		})
	}
}
