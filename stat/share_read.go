package stat

import (
	"cmp"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

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
// (anyone may make a socket in dir), without its endpoints. Cost: a connect and a receive per
// socket, then what Scan costs per segment.
func ScanShared(dir string) ([]Process, error) {
	return scanShared(cmp.Or(dir, DefaultShareDir), os.Getuid())
}

// scanShared is ScanShared skipping the sockets of uid skip (-1: none).
func scanShared(dir string, skip int) ([]Process, error) {
	ents, err := os.ReadDir(dir)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []Process
	for _, ent := range ents {
		name, ok := strings.CutSuffix(ent.Name(), ".sock")
		uid, _, _ := strings.Cut(name, ".")
		if !ok || ent.Type()&os.ModeSocket == 0 || uid == strconv.Itoa(skip) {
			continue
		}
		if p, ok := readShared(filepath.Join(dir, ent.Name()), name, uid); ok {
			out = append(out, p)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

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
