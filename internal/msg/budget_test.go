package msg

import "testing"

// TestBudget: a burst goes out, then one line a second, and the line
// after a held-back stretch says how many were held.
func TestBudget(t *testing.T) {
	b := Budget{Burst: 3}
	for i := range 3 {
		if _, ok := b.Take(); !ok {
			t.Fatalf("line %d of the burst held", i)
		}
	}
	for range 100 {
		if _, ok := b.Take(); ok {
			t.Fatal("a line beyond the burst went out")
		}
	}
	b.last -= 1e9 // a second later
	if held, ok := b.Take(); !ok || held != 100 {
		t.Fatalf("after a second: %v, held %d", ok, held)
	}
	if held, ok := b.Take(); ok || held != 0 {
		t.Fatalf("the second's one line went out twice: %v, held %d", ok, held)
	}
}
