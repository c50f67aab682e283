package link

import (
	"os"
	"testing"
	"time"
)

func openFDsT() int {
	ents, _ := os.ReadDir("/proc/self/fd")
	return len(ents)
}

func fdNames() map[string]string {
	m := map[string]string{}
	ents, _ := os.ReadDir("/proc/self/fd")
	for _, e := range ents {
		l, _ := os.Readlink("/proc/self/fd/" + e.Name())
		m[e.Name()] = l
	}
	return m
}

// TestNoFDLeak: dialling and closing many times, and the server freeing
// those slots, leaves no descriptor behind on either side.
func TestNoFDLeak(t *testing.T) {
	s, dir := serve(t, Options{})
	c := dial(t, dir) // warm: the death watch's epoll fd, the arena
	base := openFDsT()
	before := fdNames()
	for range 50 {
		d, err := Dial[req, resp]("t", DialOptions{Dir: dir})
		if err != nil {
			t.Fatal(err)
		}
		d.Close()
	}
	// OnDisconnect would say when the last slot is free; polling the
	// count until it settles does too.
	deadline := time.Now().Add(5 * time.Second)
	for openFDsT() != base && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if st := s.Stats(); st.Conns != 1 {
		t.Fatalf("stats %+v", st)
	}
	if got := openFDsT(); got != base {
		after := fdNames()
		for k, v := range after {
			if before[k] != v {
				t.Logf("new fd %s -> %s", k, v)
			}
		}
		for k, v := range before {
			if after[k] != v {
				t.Logf("gone fd %s -> %s", k, v)
			}
		}
		t.Fatalf("%d descriptors open, %d before (%d named before, %d after)", got, base, len(before), len(after))
	}
	_ = c
}
