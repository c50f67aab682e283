package main

import (
	"slices"
	"strings"
	"testing"
)

// TestFloorDoesTheTransportsWork: the floor runs at the transport's size
// and protocol, and the report says what it moved.
func TestFloorDoesTheTransportsWork(t *testing.T) {
	for _, tc := range []struct {
		mode, protocol string
		size           int
		ring           bool
		proto, path    string
	}{
		{"throughput", "", 64, true, "inslot", "64-byte messages copied in and out through a ring, inslot protocol"},
		{"throughput", "cursors", 64, true, "cursors", "cursors protocol"},
		{"throughput", "inslot", 1024, true, "inslot", "1024-byte messages"},
		{"throughput", "", 1024, true, "inslot", "1024-byte messages copied in and out through a ring, inslot protocol"},
		{"throughput", "log", 1024, false, "cursors", "1024-byte messages copied in and out through a ring, cursors protocol"},
		{"throughput", "log", 64, false, "cursors", "cursors protocol"},
		{"throughput", "records", 64, false, "cursors", "cursors protocol"},
		{"throughput", "inslot", 96, false, "cursors", "96-byte"},
		{"latency", "", 8, true, "inslot", "a counter through two rings of 1024 slots, 8 bytes"},
		{"latency", "", 256, true, "inslot", "a 256-byte message (payload + 8-byte sequence) copied into ping, echoed into pong, copied out, through two rings of 1024 slots"},
		{"latency", "", 384, false, "cursors", "a 384-byte message"},
		{"latency", "", 61, false, "cursors", "a 64-byte message"},
	} {
		c := &config{Mode: tc.mode, Protocol: tc.protocol, Size: tc.size, Slots: 1024}
		if got := ringSize(c); got != tc.ring {
			t.Errorf("%+v: ringSize %v, want %v", tc, got, tc.ring)
		}
		if got := floorProto(c); got != tc.proto {
			t.Errorf("%+v: floorProto %q, want %q", tc, got, tc.proto)
		}
		if got := floorPath(c); !strings.Contains(got, tc.path) {
			t.Errorf("%+v: floorPath %q lacks %q", tc, got, tc.path)
		}
	}
}

// TestFloorDemotes: with -demote the floor is told to demote, and the
// report says so; without, neither.
func TestFloorDemotes(t *testing.T) {
	for _, on := range []bool{false, true} {
		c := &config{Mode: "latency", Size: 256, Slots: 1024, Demote: on}
		if got := strings.Contains(floorPath(c), "CLDEMOTE"); got != on {
			t.Errorf("-demote %v: floorPath %q", on, floorPath(c))
		}
		if got := strings.Contains(spinwireT{"spin"}.options(c).Path, "SetDemote"); got != on {
			t.Errorf("-demote %v: spinwire's path %q", on, spinwireT{"spin"}.options(c).Path)
		}
		if got := slices.Contains(floorArgs(c, 1000), "-demote"); got != on {
			t.Errorf("-demote %v: floor arguments %q", on, floorArgs(c, 1000))
		}
	}
}

// TestRingOpsCoverEveryRingSize: every size a Ring carries has its message
// type, under both protocols.
func TestRingOpsCoverEveryRingSize(t *testing.T) {
	for _, p := range []string{"inslot", "cursors"} {
		for size := 8; size <= 4096; size += 8 {
			c := &config{Protocol: p, Size: size}
			if ringSize(c) && ringOps(c).open == nil {
				t.Errorf("-protocol %s -size %d: no message type", p, size)
			}
		}
	}
}
