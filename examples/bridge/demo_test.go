package main

import (
	"strings"
	"testing"
)

// TestDemo: both halves run against an embedded NATS server: every tick
// reaches both subscribers, every order is acknowledged through NATS.
func TestDemo(t *testing.T) {
	var out strings.Builder
	if err := demo(config{n: 20_000, calls: 200}, &out); err != nil {
		t.Fatalf("%v\n%s", err, &out)
	}
	t.Log(out.String())
	for _, w := range []string{"host A's subscriber got 20000, host B's 20000", "200 times through NATS"} {
		if !strings.Contains(out.String(), w) {
			t.Errorf("output lacks %q", w)
		}
	}
}
