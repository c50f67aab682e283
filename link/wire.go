package link

import (
	"encoding/binary"
	"time"
	"unsafe"

	"github.com/spinwire/spinwire/internal/msg"

	"golang.org/x/sys/unix"
)

// Set-up messages travel over the SOCK_SEQPACKET socket, one datagram each,
// little-endian, fixed fields first. Both sides treat the other's message as
// hostile: lengths are bounded, fields range-checked.
//
// hello (client → server; the client process's liveness page rides along
// in SCM_RIGHTS if it has one):
//
//	 0 magic "SPWHELLO"   8 version u32   12 flags u32
//	16 req size u32      20 resp size u32
//	24 req fingerprint   32 resp fingerprint
//	40 req schema length u32   44 resp schema length u32
//	48 req schema …, resp schema …
//
// welcome (server → client; when status is statusOK the arena memfd and,
// if the server has one, its liveness page ride along in SCM_RIGHTS, in
// that order):
//
//	 0 magic "SPWWELCM"   8 version u32   12 status u32
//	16 conn index u32    20 depth u32
//	24 stride u32        28 reserved u32
//	32 slot offset u64   40 slot step u64
//	48 bell offset u64   56 arena length u64
//	64 epoch u64         72 generation u64
//	80 message length u32  84 reserved
//	88 message …
const (
	helloMagic    = 0x4f4c4c45_48575053 // "SPWHELLO"
	welcomeMagic  = 0x4d434c45_57575053 // "SPWWELCM"
	wireVersion   = 2                   // 2: one call slot per call (arena version 3)
	helloFixed    = 48
	welcomeFixed  = 88
	maxSchemaText = 32 << 10 // bytes per schema in a hello
	maxMessage    = 4 << 10  // bytes of error text in a welcome
	maxDatagram   = helloFixed + 2*maxSchemaText
)

// Welcome statuses.
const (
	statusOK = iota
	statusMismatch
	statusFull
	statusDenied
	statusBadHello
)

type hello struct {
	version              uint32
	reqSize, respSize    uint32
	reqFP, respFP        uint64
	reqSchema, respSchem []byte
}

func (h *hello) encode() []byte {
	b := make([]byte, helloFixed, helloFixed+len(h.reqSchema)+len(h.respSchem))
	le := binary.LittleEndian
	le.PutUint64(b[0:], helloMagic)
	le.PutUint32(b[8:], h.version)
	le.PutUint32(b[16:], h.reqSize)
	le.PutUint32(b[20:], h.respSize)
	le.PutUint64(b[24:], h.reqFP)
	le.PutUint64(b[32:], h.respFP)
	le.PutUint32(b[40:], uint32(len(h.reqSchema)))
	le.PutUint32(b[44:], uint32(len(h.respSchem)))
	b = append(b, h.reqSchema...)
	return append(b, h.respSchem...)
}

func decodeHello(b []byte) (hello, error) {
	le := binary.LittleEndian
	if len(b) < helloFixed || le.Uint64(b) != helloMagic {
		return hello{}, msg.Errorf("%w: hello of %d bytes", ErrProtocol, len(b))
	}
	h := hello{version: le.Uint32(b[8:]), reqSize: le.Uint32(b[16:]), respSize: le.Uint32(b[20:]),
		reqFP: le.Uint64(b[24:]), respFP: le.Uint64(b[32:])}
	rl, sl := uint64(le.Uint32(b[40:])), uint64(le.Uint32(b[44:]))
	if rl > maxSchemaText || sl > maxSchemaText || uint64(len(b)) != helloFixed+rl+sl {
		return hello{}, msg.Errorf("%w: hello schema lengths %d+%d in %d bytes", ErrProtocol, rl, sl, len(b))
	}
	h.reqSchema, h.respSchem = b[helloFixed:helloFixed+rl], b[helloFixed+rl:]
	return h, nil
}

// peerCred reads SO_PEERCRED into a value: the x/sys wrapper allocates.
func peerCred(fd int) (unix.Ucred, error) {
	var cred unix.Ucred
	l := uint32(unsafe.Sizeof(cred))
	_, _, e := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(fd), unix.SOL_SOCKET, unix.SO_PEERCRED,
		uintptr(unsafe.Pointer(&cred)), uintptr(unsafe.Pointer(&l)), 0)
	if e != 0 {
		return cred, e
	}
	return cred, nil
}

type welcome struct {
	status            uint32
	index, depth      uint32
	stride            uint32
	slotOff, step     uint64
	bellOff, arenaLen uint64
	epoch, generation uint64
	message           string
}

func (w *welcome) encode() []byte { return w.appendTo(nil) }

// appendTo appends the encoded welcome to b[:0] (reusing b's array).
func (w *welcome) appendTo(b []byte) []byte {
	text := w.message
	if len(text) > maxMessage {
		text = text[:maxMessage]
	}
	b = append(b[:0], make([]byte, welcomeFixed)...)
	le := binary.LittleEndian
	le.PutUint64(b[0:], welcomeMagic)
	le.PutUint32(b[8:], wireVersion)
	le.PutUint32(b[12:], w.status)
	le.PutUint32(b[16:], w.index)
	le.PutUint32(b[20:], w.depth)
	le.PutUint32(b[24:], w.stride)
	le.PutUint64(b[32:], w.slotOff)
	le.PutUint64(b[40:], w.step)
	le.PutUint64(b[48:], w.bellOff)
	le.PutUint64(b[56:], w.arenaLen)
	le.PutUint64(b[64:], w.epoch)
	le.PutUint64(b[72:], w.generation)
	le.PutUint32(b[80:], uint32(len(text)))
	return append(b, text...)
}

func decodeWelcome(b []byte) (*welcome, error) {
	le := binary.LittleEndian
	if len(b) < welcomeFixed || le.Uint64(b) != welcomeMagic || le.Uint32(b[8:]) != wireVersion {
		return nil, msg.Errorf("%w: welcome of %d bytes", ErrProtocol, len(b))
	}
	w := &welcome{status: le.Uint32(b[12:]), index: le.Uint32(b[16:]), depth: le.Uint32(b[20:]),
		stride:  le.Uint32(b[24:]),
		slotOff: le.Uint64(b[32:]), step: le.Uint64(b[40:]),
		bellOff: le.Uint64(b[48:]), arenaLen: le.Uint64(b[56:]),
		epoch: le.Uint64(b[64:]), generation: le.Uint64(b[72:])}
	if n := uint64(le.Uint32(b[80:])); n > maxMessage || uint64(len(b)) != welcomeFixed+n {
		return nil, msg.Errorf("%w: welcome message length %d in %d bytes", ErrProtocol, n, len(b))
	}
	w.message = string(b[welcomeFixed:])
	return w, nil
}

// sendMsg sends one datagram, with the fds that are ≥ 0 (at most maxFds)
// as SCM_RIGHTS. Raw sendmsg(2) with the control message on the stack: no
// allocation.
func sendMsg(sock int, b []byte, fds ...int) error {
	var iov unix.Iovec
	if len(b) > 0 {
		iov.Base = &b[0]
		iov.SetLen(len(b))
	}
	mh := unix.Msghdr{Iov: &iov, Iovlen: 1}
	var oob [cmsgRightsSpace]byte
	n := 0
	for _, fd := range fds {
		if fd >= 0 && n < maxFds {
			*(*int32)(unsafe.Pointer(&oob[unix.CmsgLen(4*n)])) = int32(fd)
			n++
		}
	}
	if n > 0 {
		h := (*unix.Cmsghdr)(unsafe.Pointer(&oob[0]))
		h.Level, h.Type = unix.SOL_SOCKET, unix.SCM_RIGHTS
		h.SetLen(unix.CmsgLen(4 * n))
		mh.Control = &oob[0]
		mh.SetControllen(unix.CmsgSpace(4 * n))
	}
	for {
		_, _, e := unix.Syscall(unix.SYS_SENDMSG, uintptr(sock), uintptr(unsafe.Pointer(&mh)), unix.MSG_NOSIGNAL)
		switch e {
		case 0:
			return nil
		case unix.EINTR:
			continue
		}
		return e
	}
}

// cmsgRightsSpace holds one SCM_RIGHTS control message of up to four fds;
// a welcome carries maxFds (the arena, the liveness page).
const (
	cmsgRightsSpace = 32
	maxFds          = 2
)

// recvMsg receives one datagram into buf and up to len(fds) passed fds
// (the rest of fds is set to -1); extra fds a hostile peer sends are
// closed. Raw recvmsg(2) with the control buffer on the stack: no
// allocation.
func recvMsg(sock int, buf []byte, fds []int) (n int, err error) {
	var iov unix.Iovec
	if len(buf) > 0 {
		iov.Base = &buf[0]
		iov.SetLen(len(buf))
	}
	var oob [cmsgRightsSpace]byte
	mh := unix.Msghdr{Iov: &iov, Iovlen: 1, Control: &oob[0]}
	mh.SetControllen(len(oob))
	var r uintptr
	for {
		var e unix.Errno
		r, _, e = unix.Syscall(unix.SYS_RECVMSG, uintptr(sock), uintptr(unsafe.Pointer(&mh)), unix.MSG_CMSG_CLOEXEC)
		if e == unix.EINTR {
			continue
		}
		if e != 0 {
			return 0, e
		}
		break
	}
	for i := range fds {
		fds[i] = -1
	}
	got := 0
	// Walk the control messages; the kernel wrote at most Controllen bytes.
	ctl := oob[:min(int(mh.Controllen), len(oob))]
	for len(ctl) >= unix.CmsgLen(0) {
		h := (*unix.Cmsghdr)(unsafe.Pointer(&ctl[0]))
		l := int(h.Len)
		if l < unix.CmsgLen(0) || l > len(ctl) {
			break
		}
		if h.Level == unix.SOL_SOCKET && h.Type == unix.SCM_RIGHTS {
			for off := unix.CmsgLen(0); off+4 <= l; off += 4 {
				f := int(*(*int32)(unsafe.Pointer(&ctl[off])))
				if got < len(fds) {
					fds[got] = f
					got++
				} else {
					unix.Close(f)
				}
			}
		}
		next := unix.CmsgSpace(l - unix.CmsgLen(0))
		if next > len(ctl) {
			break
		}
		ctl = ctl[next:]
	}
	if mh.Flags&(unix.MSG_TRUNC|unix.MSG_CTRUNC) != 0 {
		closeFds(fds)
		return 0, msg.Errorf("%w: truncated datagram", ErrProtocol)
	}
	return int(r), nil
}

// closeFds closes the fds that are ≥ 0 and sets them to -1.
func closeFds(fds []int) {
	for i, fd := range fds {
		if fd >= 0 {
			unix.Close(fd)
			fds[i] = -1
		}
	}
}

// accept4 accepts a connection without asking for the peer's address (the
// x/sys wrapper allocates one).
func accept4(lfd int) (int, error) {
	r, _, e := unix.Syscall6(unix.SYS_ACCEPT4, uintptr(lfd), 0, 0, unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, 0, 0)
	if e != 0 {
		return -1, e
	}
	return int(r), nil
}

// setTimeouts bounds blocking socket calls during set-up.
func setTimeouts(sock int, d time.Duration) {
	tv := unix.NsecToTimeval(d.Nanoseconds())
	unix.SetsockoptTimeval(sock, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	unix.SetsockoptTimeval(sock, unix.SOL_SOCKET, unix.SO_SNDTIMEO, &tv)
}
