package link

import (
	"os"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// TestPeerInGroups: a peer's supplementary groups, as the kernel recorded
// them at its connect, admit it when one is listed (here the peer is this
// process, at the other end of a socket pair).
func TestPeerInGroups(t *testing.T) {
	groups, _ := os.Getgroups()
	if len(groups) == 0 && os.Getuid() == 0 { // give this process one (root may)
		if err := syscall.Setgroups([]int{4243}); err == nil { // every thread's (x/sys's: the caller's only)
			t.Cleanup(func() { syscall.Setgroups(nil) })
			groups = []int{4243}
		}
	}
	if len(groups) == 0 {
		t.Skip("this process has no supplementary groups")
	}
	pair, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(pair[0])
	defer unix.Close(pair[1])
	listed := uint32(groups[len(groups)-1])
	if !peerInGroups(pair[0], []uint32{4242424, listed}) {
		t.Errorf("group %d of %v not seen", listed, groups)
	}
	if peerInGroups(pair[0], []uint32{4242424}) {
		t.Error("a group the peer is not in admitted it")
	}
	p := Policy{GIDs: []uint32{listed}, DenySameUID: true}
	if !p.AllowsPeer(uint32(os.Getuid()), pair[0], uint32(os.Getuid()), 4242424) || p.Allows(uint32(os.Getuid()), uint32(os.Getuid()), 4242424) {
		t.Error("AllowsPeer should admit by a supplementary group, Allows should not")
	}
}
