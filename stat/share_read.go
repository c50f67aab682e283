package stat

import (
	"cmp"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spinwire/spinwire/internal/fdpass"
	"github.com/spinwire/spinwire/internal/msg"
	"github.com/spinwire/spinwire/layout"
	"golang.org/x/sys/unix"
)

// ScanShared reads the registries that other uids share in dir
// (DefaultShareDir if empty) and whose policy admits this process, ordered
// by name; this uid's own are left to Scan. A socket nobody listens on
// (its process is gone) is skipped; a registry that refuses us is skipped
// too — another uid's endpoints stay unreadable unless its policy allows.
// An answer that is not a sealed segment of a registry, or none within
// 100 ms, is returned with Err set; so is one from a process of another
// uid than its socket's name says, or whose segment names another process
// (anyone may make a socket in dir), without its endpoints. A socket file
// of another uid than its name says is skipped unread, and the sockets of
// one uid may keep the scan waiting 300 ms in all (ErrSlow for the rest).
// A socket not named as a registry names it (UID.PID.N.sock) is skipped.
// Cost: a connect and a receive per socket, then what Scan costs per
// segment.
func ScanShared(dir string) ([]Process, error) {
	return scanShared(cmp.Or(dir, DefaultShareDir), os.Getuid())
}

// scanShared is ScanShared skipping the sockets of uid skip (-1: none).
// A socket whose file belongs to another uid than its name says is not
// that uid's registry and is skipped unread. The sockets of one uid may
// keep the scan waiting shareUIDBudget in all: the rest of that uid's are
// not read, and one Process, named UID.*, says how many.
func scanShared(dir string, skip int) ([]Process, error) {
	ents, err := os.ReadDir(dir)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []Process
	spent, unread := map[string]time.Duration{}, map[string]int{}
	for _, ent := range ents {
		name, ok := strings.CutSuffix(ent.Name(), ".sock")
		uid, _, _ := strings.Cut(name, ".")
		path := filepath.Join(dir, ent.Name())
		var st unix.Stat_t
		if !ok || !shareName(name) || ent.Type()&os.ModeSocket == 0 || uid == strconv.Itoa(skip) ||
			unix.Lstat(path, &st) != nil || strconv.FormatUint(uint64(st.Uid), 10) != uid {
			continue
		}
		if spent[uid] >= shareUIDBudget {
			unread[uid]++
			continue
		}
		start := time.Now()
		p, ok := readShared(path, name, uid)
		spent[uid] += time.Since(start)
		if ok {
			out = append(out, p)
		}
	}
	for uid, n := range unread {
		out = append(out, Process{Name: uid + ".*", Err: msg.Errorf("%w: %d sockets of uid %s not read: its others kept the scan waiting %v",
			ErrSlow, n, uid, shareUIDBudget)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// shareName reports whether name (a socket's, less .sock) is one a
// registry makes, UID.PID.N: three decimal numbers. Another uid chooses it, and
// it becomes Process.Name, which spinstat prints and exports as a label:
// escape sequences, or bytes that are not UTF-8 (the Prometheus client
// refuses such a label, failing the whole scrape), are not read at all.
func shareName(name string) bool {
	f := strings.Split(name, ".")
	for _, d := range f {
		if d == "" || strings.Trim(d, "0123456789") != "" {
			return false
		}
	}
	return len(f) == 3
}

// shareUIDBudget bounds how long the sockets of one uid may keep a scan
// waiting (a registry answers in microseconds; a socket that does not
// answer takes shareTimeout).
const shareUIDBudget = 300 * time.Millisecond

// readShared asks the registry at path for its segment and reads it; ok is
// false when nobody listens there or it refused us. Anyone may make a
// socket in the share directory: the registry must run as the uid its
// socket is named for (uid), and its segment must name that process.
func readShared(path, name, uid string) (Process, bool) {
	p := Process{Name: name}
	fd, cred, err := fetchShared(path)
	if fd < 0 {
		p.Err = err
		return p, err != nil
	}
	if strconv.FormatUint(uint64(cred.Uid), 10) != uid {
		unix.Close(fd)
		p.Err = corrupt("%s is named for uid %s, and served by uid %d (pid %d)", path, uid, cred.Uid, cred.Pid)
		return p, true
	}
	seg, err := layout.OpenFd(fd, layout.Options{ReadOnly: true, Fingerprint: fingerprint,
		MaxLength: maxLength, Sparse: true, ReadyWait: -1})
	if err != nil {
		unix.Close(fd)
		p.Err = err
		return p, true
	}
	defer seg.Close()
	if p.Err = decode(seg.Body(), &p); p.Err == nil && (p.UID != cred.Uid || p.PID != uint32(cred.Pid)) {
		p.Err = corrupt("the segment names pid %d of uid %d, and pid %d of uid %d serves it", p.PID, p.UID, cred.Pid, cred.Uid)
		p.Endpoints = nil // not that process's
	}
	return p, true
}

// fetchShared connects to path and receives one descriptor, and returns
// it with the credentials of the process that listens there: fd < 0 and
// a nil error when nobody listens or the registry refused us.
func fetchShared(path string) (int, unix.Ucred, error) {
	var cred unix.Ucred
	s, err := unix.Socket(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, cred, err
	}
	defer unix.Close(s)
	tv := unix.NsecToTimeval(int64(shareTimeout))
	unix.SetsockoptTimeval(s, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	unix.SetsockoptTimeval(s, unix.SOL_SOCKET, unix.SO_SNDTIMEO, &tv)
	if err := unix.Connect(s, &unix.SockaddrUnix{Name: path}); err != nil {
		if err == unix.ECONNREFUSED || err == unix.ENOENT {
			return -1, cred, nil // its registry is gone
		}
		return -1, cred, msg.Errorf("stat: connect %s: %w", path, err)
	}
	c, err := unix.GetsockoptUcred(s, unix.SOL_SOCKET, unix.SO_PEERCRED)
	if err != nil {
		return -1, cred, msg.Errorf("stat: %s: SO_PEERCRED: %w", path, err)
	}
	var buf [16]byte
	n, fd, err := fdpass.Recv(s, buf[:])
	if err != nil {
		return -1, cred, msg.Errorf("stat: %s: %w", path, err)
	}
	switch {
	case fd < 0 && n == 0:
		return -1, cred, nil // refused: closed without an answer
	case fd < 0 || string(buf[:n]) != "SPINSTAT":
		if fd >= 0 {
			unix.Close(fd)
		}
		return -1, cred, msg.Errorf("stat: %s: an answer of %d bytes with no segment", path, n)
	}
	return fd, *c, nil
}
