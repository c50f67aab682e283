package topic

import (
	"bytes"
	"errors"
	"io/fs"
	"time"

	"github.com/spinwire/spinwire/asm"
	"github.com/spinwire/spinwire/layout"
	"golang.org/x/sys/unix"
)

// Bounds on one scan (every 10 ms): whoever may write the topic
// directory — another uid, where Options.Dir lets it — may fill it with
// names that look like subscriber segments and are not. Each Open costs
// some ten system calls (5 µs); a scan of 5 000 such names took 24 ms, so
// the tracker's goroutine never rested. Now a scan lists at most
// scanEntries entries and tries at most scanOpens of them, and goes on
// from there at the next; a name refused for good (not a sealed segment
// of a trusted owner, of another layout) is not tried again while the
// same file bears it, up to maxRefused names.
const (
	scanEntries = 4096
	scanOpens   = 64
	maxRefused  = 4 * maxSubSegs
)

// refusal is a name scan refused: the inode it refused, and the pass over
// the directory that last saw it there.
type refusal struct{ ino, cycle uint64 }

// scan opens subscriber segments it does not know yet, NAME~s… in dir,
// within the bounds above. A scan that reaches the end of the directory
// ends a pass over it: then, and only then, the topic segment's scan count
// goes up — every segment linked before the pass began is mapped, unless
// it was refused or maxSubSegs are. A name not ready yet (or whose
// segment lacks its magic still) is tried again in the next pass. At
// rest it allocates nothing.
func (t *tracker) scan() {
	t.scanMu.Lock()
	defer t.scanMu.Unlock()
	if t.dirents.off == 0 && t.unchanged() {
		t.endPass()
		return
	}
	t.listed++
	entries, opens := 0, 0
	for name, ino := range t.dirents.names {
		if entries++; entries > scanEntries {
			break
		}
		if !bytes.HasPrefix(name, t.prefix) || t.refusedBefore(name, ino) {
			continue
		}
		t.mu.RLock() // segs also grows on the sharer's goroutines (adopt)
		ns, known := t.named[string(name)]
		if known {
			ns.cycle = t.cycle // only scan reads or writes cycle
		}
		full := len(t.segs) >= maxSubSegs
		t.mu.RUnlock()
		if known {
			continue
		}
		if full {
			t.retry = true
			if !t.full {
				t.full = true
				t.peerLogf("topic %s: %d subscriber segments mapped; ignoring more", t.name, maxSubSegs)
			}
			continue
		}
		if opens++; opens > scanOpens {
			t.retry = true
			break
		}
		t.open(string(name), ino)
	}
	if t.dirents.err != nil || !t.dirents.ended {
		return // the pass goes on at the next scan (from the start after an error)
	}
	for n, r := range t.refused {
		if r.cycle != t.cycle {
			delete(t.refused, n) // the name has gone
		}
	}
	t.dropUnlisted()
	t.cycle++
	t.quiet = quiet{}
	if !t.retry {
		t.quiet = t.pass
	}
	t.endPass()
}

// endPass counts a pass over the directory in the topic segment.
func (t *tracker) endPass() {
	// SYNC: release: every segment linked before this pass began is
	// mapped now; a joining subscriber waits for two more (Subscribe).
	asm.StoreRelease64(word(t.pub, offScanGen), load(t.pub, offScanGen)+1)
}

// A pass over a directory that has not changed since the last whole one
// ends without listing it: a hundred publishers in one directory of a
// hundred topics each listed it every 10 ms, most of the 57 % of a CPU
// they took at rest. Changed means a new ctime, which adding or removing
// a name sets and which nobody can set back; the kernel may stamp it
// from a clock that moves a tick at a time, so a ctime within quietTick
// of the last listing's start does not count as settled, and a listing
// is made at least every quietMax however quiet the directory.
const (
	quietTick = 50 * time.Millisecond
	quietMax  = time.Second
)

// quiet is the directory's ctime at the start of a listing, and when that
// was; ok: a listing that left nothing to retry.
type quiet struct {
	ctime unix.Timespec
	at    time.Time
	ok    bool
}

// unchanged reports whether the directory is as the last pass that left
// nothing to retry found it; if not, it notes the directory as this new
// pass begins.
func (t *tracker) unchanged() bool {
	var st unix.Stat_t
	if t.dirents.stat(&st) != nil {
		t.pass = quiet{}
		return false
	}
	now, q := time.Now(), t.quiet
	if q.ok && st.Ctim == q.ctime && now.Sub(q.at) < quietMax && time.Unix(st.Ctim.Unix()).Add(quietTick).Before(q.at) {
		return true
	}
	t.pass, t.retry = quiet{ctime: st.Ctim, at: now, ok: true}, false
	return false
}

// forGood reports whether layout.Open's err says the same file will never
// be a subscriber segment for this publisher: not a sealed segment, not of
// a trusted owner, not readable by this process, or of another layout.
func forGood(err error) bool {
	for _, e := range []error{layout.ErrUntrusted, layout.ErrNotSealed, fs.ErrPermission, layout.ErrTooShort,
		layout.ErrInvalidSize, layout.ErrBadMagic, layout.ErrVersion, layout.ErrBadLength, layout.ErrLayoutMismatch} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// refusedBefore reports whether name was refused while the same file bore
// it, and marks it seen in this pass; a name another file bears now is
// forgotten, to be tried again.
func (t *tracker) refusedBefore(name []byte, ino uint64) bool {
	r := t.refused[string(name)]
	switch {
	case r == nil:
		return false
	case r.ino != ino:
		delete(t.refused, string(name))
		return false
	}
	r.cycle = t.cycle
	return true
}

// open maps subscriber segment n (inode ino) if it is one, and remembers
// it as refused if it never will be.
func (t *tracker) open(n string, ino uint64) {
	t.opened++
	seg, err := layout.Open(layout.Options{Name: n, Dir: t.dir, ReadOnly: true, Fingerprint: subFPrint,
		MaxLength: 1 << 16, ReadyWait: -1})
	switch {
	case errors.Is(err, fs.ErrNotExist):
		unlinkDangling(t.dir + "/" + n)
		return
	case forGood(err):
		if len(t.refused) < maxRefused {
			t.refused[n] = &refusal{ino: ino, cycle: t.cycle}
		}
		return
	case err != nil:
		t.retry = true // not ready yet, or short of descriptors or memory
		return
	}
	if b := seg.Body(); len(b) < subLength || load(b, 0) != subMagic {
		seg.Close() // its creator may not have written the magic yet
		t.retry = true
		return
	}
	t.mapNamed(n, seg)
}
