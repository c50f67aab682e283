package link

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Uids and gids of the clients these tests start; none needs to exist.
const (
	allowedUID       = 12345
	deniedUID        = 23456
	groupUID         = 34567 // admitted by its primary gid only
	supplementaryUID = 56789 // admitted by a supplementary group only
	allowedGID       = 45678
)

func as(uid, gid uint32) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: gid}}
}

// otherUIDBin returns a copy of the test binary that other uids can run,
// or skips the test when this process cannot start one (it must be root).
func otherUIDBin(t *testing.T) string {
	t.Helper()
	if os.Getuid() != 0 {
		t.Skip("needs root: starts clients under other uids")
	}
	dir := t.TempDir()
	os.Chmod(filepath.Dir(dir), 0o755) // the test's parent temp directory
	os.Chmod(dir, 0o755)
	bin := filepath.Join(dir, "link.test")
	data, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	return bin
}

// sharedServer serves a name of its own with policy and an empty
// Options.Dir: where a server whose policy admits other uids listens by
// default. It returns the server, the directory and the environment that
// tells a child where to dial.
func sharedServer(t *testing.T, policy Policy) (*Server[req, resp], string, []string) {
	t.Helper()
	name := uniqueName()
	s := serveAs(t, name, Options{Policy: policy, Logf: func(string, ...any) {}}, add)
	dir := SharedDir(uint32(os.Getuid()))
	return s, dir, []string{"LINK_DIR=" + dir, "LINK_NAME=" + name}
}

// TestPolicyModes: without an allow list the socket is 0600; with one,
// Listen with an empty Dir uses SharedDir, 0711, with a 0666 socket; a
// client of the same uid that looks in Dir first still finds it there.
func TestPolicyModes(t *testing.T) {
	_, dir := serve(t, Options{})
	mode := func(path string) os.FileMode {
		t.Helper()
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Mode().Perm()
	}
	if m := mode(filepath.Join(dir, "t.sock")); m != 0o600 {
		t.Errorf("socket of a same-uid server: %#o", m)
	}
	t.Setenv("XDG_RUNTIME_DIR", t.TempDir()) // Dir is elsewhere now
	_, shared, env := sharedServer(t, Policy{UIDs: []uint32{allowedUID}})
	name := strings.TrimPrefix(env[1], "LINK_NAME=")
	if m := mode(shared); m != 0o711 {
		t.Errorf("shared directory %s: %#o", shared, m)
	}
	if m := mode(filepath.Join(shared, name+".sock")); m != 0o666 {
		t.Errorf("socket of a server with an allow list: %#o", m)
	}
	if d, _ := Dir(); d == shared {
		t.Fatalf("Dir %s is the shared directory", d)
	}
	if err := childCalls("", name, 3); err != nil {
		t.Fatalf("a same-uid Dial without a Dir: %v", err)
	}
}

// runChild runs role as attr with the env and returns its RESULT line.
func runChild(t *testing.T, role, bin string, attr *syscall.SysProcAttr, env ...string) string {
	t.Helper()
	_, lines, _ := childEnv(t, role, attr, bin, env...)
	return expectLine(t, lines, "RESULT")
}

// TestOtherUIDs: a server whose policy lists a uid and a gid is reached
// out of the box by clients of that uid, of that primary gid and of that
// supplementary group, which dial and call; a client of another uid is
// refused at the accept, with a reason.
func TestOtherUIDs(t *testing.T) {
	bin := otherUIDBin(t)
	s, _, env := sharedServer(t, Policy{UIDs: []uint32{allowedUID}, GIDs: []uint32{allowedGID}})
	env = append(env, "LINK_N=100")
	if got := runChild(t, "dial", bin, as(allowedUID, allowedUID), env...); got != "<nil>" {
		t.Errorf("allowed uid: %s", got)
	}
	if got := runChild(t, "dial", bin, as(groupUID, allowedGID), env...); got != "<nil>" {
		t.Errorf("allowed gid: %s", got)
	}
	inGroup := as(supplementaryUID, supplementaryUID)
	inGroup.Credential.Groups = []uint32{allowedGID}
	if got := runChild(t, "dial", bin, inGroup, env...); got != "<nil>" {
		t.Errorf("allowed supplementary gid: %s", got)
	}
	want := "permission denied: uid " + strconv.Itoa(deniedUID) + " gid " + strconv.Itoa(deniedUID) + " not allowed"
	if got := runChild(t, "dial", bin, as(deniedUID, deniedUID), env...); !strings.Contains(got, want) {
		t.Errorf("denied uid: %q, want %q", got, want)
	}
	if st := s.Stats(); st.Accepted != 3 || st.RefusedPolicy != 1 {
		t.Errorf("stats %+v", st)
	}
}

// TestDeniedUIDAttacks: a uid the policy refuses floods the server with
// hellos that carry a valid sealed liveness page and a wrong version, and
// holds 1100 silent connections, while an allowed uid makes its calls and
// this process dials: every connection of the denied uid is refused at
// the accept, nothing it sends is read or mapped, and every honest client
// is served.
func TestDeniedUIDAttacks(t *testing.T) {
	bin := otherUIDBin(t)
	s, dir, env := sharedServer(t, Policy{UIDs: []uint32{allowedUID}})
	name := strings.TrimPrefix(env[1], "LINK_NAME=")
	_, silent, release := childEnv(t, "silent", as(deniedUID, deniedUID), bin, append(env, "LINK_N=1100")...)
	allowed := make(chan string, 1)
	go func() {
		_, lines, _ := childEnv(t, "dial", as(allowedUID, allowedUID), bin, append(env, "LINK_N=2000")...)
		allowed <- expectLineOrEnd(lines, "RESULT")
	}()
	sent := floodAndDial(t, s, dir, name, "flood", "DONE", 3000, as(deniedUID, deniedUID), bin)
	held := expectLine(t, silent, "HELD")
	release.Close()
	if got := <-allowed; got != "<nil>" {
		t.Errorf("allowed uid during the attacks: %q", got)
	}
	n, _ := strconv.Atoi(sent)
	h, _ := strconv.Atoi(held)
	// A connect returns once the connection is in the backlog: the last
	// ones may not be accepted yet.
	waitFor(10*time.Second, func() bool { return s.Stats().RefusedPolicy >= uint64(n+h) })
	if st := s.Stats(); n < 1000 || h != 1100 || st.RefusedPolicy < uint64(n+h) || st.RefusedVersion+st.RefusedBusy+st.RefusedMalformed != 0 {
		t.Errorf("%s flood connections, %s held; %+v", sent, held, st)
	}
}

// TestAllowedUIDSilentFlood: a process of an allowed uid opens 1100
// connections and never says hello; it holds at most maxPendingPerProc
// set-ups, so this process and another process of the same uid dial and
// call.
func TestAllowedUIDSilentFlood(t *testing.T) {
	bin := otherUIDBin(t)
	s, dir, env := sharedServer(t, Policy{UIDs: []uint32{allowedUID}})
	name := strings.TrimPrefix(env[1], "LINK_NAME=")
	_, silent, release := childEnv(t, "silent", as(allowedUID, allowedUID), bin, append(env, "LINK_N=1100")...)
	defer release.Close()
	if held := expectLine(t, silent, "HELD"); held != "1100" {
		t.Fatalf("held %s", held)
	}
	honestDials(t, dir, name, 20)
	if got := runChild(t, "dial", bin, as(allowedUID, allowedUID), append(env, "LINK_N=100")...); got != "<nil>" {
		t.Errorf("another process of the flooding uid: %s", got)
	}
	if st := s.Stats(); st.RefusedBusy < 1100-maxPendingPerProc {
		t.Errorf("stats %+v", st)
	}
}

// TestAllowedUIDHoldsItsShare: a process of an allowed uid that dials
// more connections than MaxConnsPerUID gets that many, the rest refused
// with ErrServerFull naming the bound; the server's own uid still attaches
// the remaining MaxConns, and once the other uid's go, it may again.
func TestAllowedUIDHoldsItsShare(t *testing.T) {
	bin := otherUIDBin(t)
	name := uniqueName()
	s := serveAs(t, name, Options{MaxConns: 8, Policy: Policy{UIDs: []uint32{allowedUID}}, Logf: func(string, ...any) {}}, add)
	dir := SharedDir(uint32(os.Getuid()))
	env := []string{"LINK_DIR=" + dir, "LINK_NAME=" + name, "LINK_N=5"}
	_, lines, release := childEnv(t, "hold", as(allowedUID, allowedUID), bin, env...)
	held := expectLine(t, lines, "HELD")
	if !strings.HasPrefix(held, "2 ") || !strings.Contains(held, "server full") || !strings.Contains(held, "2 connections of uid 12345 attached (MaxConnsPerUID)") {
		t.Fatalf("the allowed uid: %q, want 2 held and the rest refused by MaxConnsPerUID", held)
	}
	var own []*Conn[req, resp]
	defer func() {
		for _, c := range own {
			c.Close()
		}
	}()
	for i := range 6 {
		c, err := Dial[req, resp](name, DialOptions{Dir: dir})
		if err != nil {
			t.Fatalf("the server's uid, connection %d: %v", i, err)
		}
		own = append(own, c)
	}
	if _, err := Dial[req, resp](name, DialOptions{Dir: dir}); !errors.Is(err, ErrServerFull) {
		t.Fatalf("beyond MaxConns: %v", err)
	}
	for _, c := range own[:2] {
		c.Close()
	}
	own = own[2:]
	release.Close()
	if !waitFor(10*time.Second, func() bool { return s.Stats().Conns == 4 }) {
		t.Fatalf("%d connections attached once the uid's closed, want 4", s.Stats().Conns)
	}
	if got := runChild(t, "dial", bin, as(allowedUID, allowedUID), env...); got != "<nil>" {
		t.Errorf("the allowed uid once its connections went: %s", got)
	}
}

// TestServerOfAnotherUID: Dial trusts a server that runs as the uid of
// the directory it listens in, and refuses one in SharedDir(uid) that
// another uid made first, or one whose uid does not own its directory
// (here, a sticky world-writable one, where anyone may listen).
func TestServerOfAnotherUID(t *testing.T) {
	bin := otherUIDBin(t)
	squat := SharedDir(54321) // a uid that has made no directory yet
	os.RemoveAll(squat)
	t.Cleanup(func() { os.RemoveAll(squat) })
	sticky, own := t.TempDir(), filepath.Join(t.TempDir(), "own")
	os.Chmod(filepath.Dir(own), 0o755)
	os.Chmod(sticky, 0o777|os.ModeSticky)
	for _, d := range []string{squat, own} {
		if err := os.Mkdir(d, 0o711); err != nil {
			t.Fatal(err)
		}
		os.Chown(d, deniedUID, deniedUID)
	}
	for _, c := range []struct{ dir, want string }{
		{squat, "belongs to uid " + strconv.Itoa(deniedUID) + ", not to uid 54321"},
		{sticky, "runs as uid " + strconv.Itoa(deniedUID)},
		{own, ""},
	} {
		name := uniqueName()
		_, lines, stop := childEnv(t, "server", as(deniedUID, deniedUID), bin,
			"LINK_DIR="+c.dir, "LINK_NAME="+name, "LINK_ADMIT=0")
		expectLine(t, lines, "READY")
		err := childCalls(c.dir, name, 3)
		stop.Close()
		switch {
		case c.want == "" && err != nil:
			t.Errorf("a server in its own uid's directory %s: %v", c.dir, err)
		case c.want != "" && (!errors.Is(err, ErrPermission) || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%s: %v, want ErrPermission saying %q", c.dir, err, c.want)
		}
	}
}

// TestSharedDirOwner: only SharedDir(uid) itself names a uid.
func TestSharedDirOwner(t *testing.T) {
	for dir, want := range map[string]int64{
		SharedDir(12):                  12,
		SharedDir(0) + "/":             0,
		"/dev/shm/../shm/spinwire-7":   7,
		"/dev/shm/spinwire-007":        -1,
		"/dev/shm/spinwire-+7":         -1,
		"/dev/shm/spinwire-":           -1,
		"/dev/shm/spinwire-4294967296": -1,
		SharedDir(12) + "/topic":       -1,
		"/tmp/spinwire-12":             -1,
	} {
		if got := sharedOwner(dir); got != want {
			t.Errorf("%s: %d, want %d", dir, got, want)
		}
	}
}
