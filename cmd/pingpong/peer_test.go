package main

import (
	"strings"
	"testing"
)

// TestCountDutyAckGivesUp: once all messages are in, a count the pong side
// had no room for (ack reports false after -timeout) fails the round and
// still stops serving; the count goes out once, and the polls that took
// something are reported.
func TestCountDutyAckGivesUp(t *testing.T) {
	c := testConfig("throughput")
	s := newPeerServer(c)
	s.n = 3
	s.poll = func() int {
		for range 3 {
			s.count(s.next, true)
		}
		return 3
	}
	acks := 0
	s.ack = func(done uint64) bool {
		if done != 3 {
			t.Errorf("ack(%d), want 3", done)
		}
		acks++
		return false
	}
	if k := s.countDuty(); k != 3 {
		t.Fatalf("countDuty = %d, want 3", k)
	}
	if s.fail == nil || !strings.Contains(s.fail.Error(), "unacknowledged") {
		t.Errorf("fail = %v, want the unacknowledged count", s.fail)
	}
	if s.ctx.Err() == nil {
		t.Error("serving did not stop")
	}
	if k := s.countDuty(); k != 0 || acks != 1 {
		t.Errorf("after the ack: countDuty = %d, acks = %d; want 0, 1", k, acks)
	}
	if s.drains != 1 || peerDrains.Load() != 1 {
		t.Errorf("drains %d, reported %d; want 1 (one poll took the three)", s.drains, peerDrains.Load())
	}
}

// TestRetryFullBounded: retryFull reports true as soon as try does, and
// false once limit ticks have passed without it.
func TestRetryFullBounded(t *testing.T) {
	n := 0
	if !retryFull(func() bool { n++; return n == 5 }, 1<<62) || n != 5 {
		t.Errorf("retryFull stopped after %d tries, want true after 5", n)
	}
	n = 0
	if retryFull(func() bool { n++; return false }, 0) {
		t.Error("retryFull(never, 0) = true")
	}
	if n != 1024 {
		t.Errorf("retryFull(never, 0) tried %d times, want 1024 (the first check of the clock)", n)
	}
}
