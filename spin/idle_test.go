package spin

import (
	"testing"
	"time"
)

func TestIdlers(t *testing.T) {
	r := newRing[msg8](t, 4, InSlot)
	for _, id := range []Idler{NoOp{}, BusySpin{}, Yield{}, &Park{Parker: r, Timeout: time.Microsecond}, &Park{}} {
		id.Idle(1)
		id.Idle(0)
		id.Reset()
	}
	b := &Backoff{Spins: 2, Yields: 2, MinPark: time.Microsecond, MaxPark: 4 * time.Microsecond, Parker: r}
	for range 10 {
		b.Idle(0)
	}
	if b.idle != 10 || b.park != 4*time.Microsecond {
		t.Fatalf("backoff state idle=%d park=%v", b.idle, b.park)
	}
	b.Idle(1)
	if b.idle != 0 || b.park != 0 {
		t.Fatal("work did not reset the backoff")
	}
	var z Backoff // defaults, sleeping with no parker
	z.idle = 10_000 + 100
	z.Idle(0)
	if z.park != 100*time.Microsecond {
		t.Fatalf("default park after one step %v", z.park)
	}
}
