package topic

import "time"

// Stalls by other uids. A reliable publisher waits for its slowest
// subscriber, up to StallTimeout, then evicts it — and a subscriber that
// writes its cell itself can come back at once under a new token, and
// hold the publisher again. A uid whose subscribers that came over the
// share socket (share.go) stalled the publisher maxUIDStalls times within
// stallWindow StallTimeouts is let go whole for as long: every cell of the
// segments it brought is evicted, those segments are unmapped and their
// connections closed, and its set-ups are refused with ErrBusy until the
// window has passed. So one uid holds the publisher up for fewer than
// 2·maxUIDStalls StallTimeouts in any stallWindow; an honest subscriber
// that stalls now and then is evicted alone, as before. The publisher's
// own uid, whose subscribers it maps by name, is not counted: it is the
// publisher's trust domain.

const (
	maxUIDStalls = 3
	stallWindow  = 60 // StallTimeouts
)

// uidStalls is one uid's stall evictions in its current window.
type uidStalls struct {
	n     int
	first time.Time // the window's first
	until time.Time // refused until then; zero: not refused
}

// stalledBy counts a stall eviction of the cells in the segments of keys
// against the uids that brought them, and lets go of a uid that reaches
// maxUIDStalls. The publishing goroutine's (slowest).
func (t *tracker) stalledBy(keys []string, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	window := stallWindow * t.opts.StallTimeout
	for i, key := range keys {
		by, ok := t.segBy[key]
		if !ok || t.broughtBy(keys[:i], by.uid) {
			continue // not brought over the socket, or this uid counted already
		}
		s := t.stalls[by.uid]
		if s == nil || now.Sub(s.first) > window && now.After(s.until) {
			s = &uidStalls{first: now}
			t.stalls[by.uid] = s
		}
		if s.n++; s.n >= maxUIDStalls {
			s.until = now.Add(window)
			t.peerLogf("topic %s: subscribers of uid %d stalled it %d times in %v; refused for %v", t.name, by.uid, s.n, now.Sub(s.first), window)
			t.letGo(by.uid)
		}
	}
	for uid, s := range t.stalls { // forget the windows that have passed
		if now.Sub(s.first) > window && now.After(s.until) {
			delete(t.stalls, uid)
		}
	}
}

// broughtBy reports whether one of keys is a segment uid brought. Under
// t.mu.
func (t *tracker) broughtBy(keys []string, uid uint32) bool {
	for _, k := range keys {
		if by, ok := t.segBy[k]; ok && by.uid == uid {
			return true
		}
	}
	return false
}

// refusedUntil reports whether uid is let go now (stalledBy), and until
// when. Under t.mu.
func (t *tracker) refusedUntil(uid uint32, now time.Time) (time.Time, bool) {
	s := t.stalls[uid]
	if s == nil || !now.Before(s.until) {
		return time.Time{}, false
	}
	return s.until, true
}

// letGo evicts every cell of the segments uid brought, unmaps them and
// closes their connections. Under t.mu.
func (t *tracker) letGo(uid uint32) {
	for key, by := range t.segBy {
		if by.uid != uid {
			continue
		}
		if seg := t.segs[key]; seg != nil {
			b := seg.Body()
			for i := range subCells {
				if c := subHeader + i*cellLength; t.current(b, c) {
					t.evict(load(b, c+cellToken), "its uid stalled the topic")
				}
			}
		}
		for _, c := range t.conns[key] {
			t.forget(c, t.kept[c])
		}
		delete(t.conns, key)
		t.dropSeg(key)
	}
}
