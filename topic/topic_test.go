package topic

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/spinwire/spinwire/layout"
)

type tick struct {
	Seq   uint64
	Price int64
	Body  [5]uint64
}

func create(t testing.TB, opts Options) (*Publisher[tick], string) {
	t.Helper()
	if opts.Dir == "" {
		opts.Dir = t.TempDir()
	}
	p, err := Create[tick]("ticks", opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p, opts.Dir
}

func subscribe(t testing.TB, dir string) *Subscriber[tick] {
	t.Helper()
	s, err := Subscribe[tick]("ticks", SubscribeOptions{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// pair creates topic name of capacity slots (Lossy) in a temporary
// directory and subscribes to it; both are closed at the end of tb.
func pair[T any](tb testing.TB, name string, capacity int) (*Publisher[T], *Subscriber[T]) {
	tb.Helper()
	dir := tb.TempDir()
	p, err := Create[T](name, Options{Dir: dir, Capacity: capacity})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { p.Close() })
	s, err := Subscribe[T](name, SubscribeOptions{Dir: dir})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return p, s
}

// drain polls s until it has nothing, checking each message is the next.
func drain(t testing.TB, s *Subscriber[tick], next *uint64) int {
	t.Helper()
	total := 0
	for {
		n, err := s.Poll(func(m *tick) {
			if m.Seq != *next || m.Price != int64(m.Seq)*3 {
				t.Fatalf("got seq %d price %d, want seq %d", m.Seq, m.Price, *next)
			}
			*next++
		}, 0)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			return total
		}
		total += n
	}
}

func pub(p *Publisher[tick], seq uint64) bool {
	return p.TryPublish(&tick{Seq: seq, Price: int64(seq) * 3})
}

// fill publishes from *seq on until the topic is full.
func fill(p *Publisher[tick], seq *uint64) {
	for pub(p, *seq) {
		*seq++
	}
}

// fillAtMost is fill for a reliable topic whose publisher must find it
// full within n messages: one that lost its subscribers would fill on.
func fillAtMost(t testing.TB, p *Publisher[tick], seq *uint64, n int) {
	t.Helper()
	for i := 0; pub(p, *seq); i++ {
		if *seq++; i == n {
			t.Fatalf("published %d and not full", n+1)
		}
	}
}

// reliableOne is a reliable topic of capacity slots with one subscriber
// its publisher has seen.
func reliableOne(t testing.TB, capacity int) (*Publisher[tick], *Subscriber[tick]) {
	p, dir := create(t, Options{Capacity: capacity, Policy: Reliable})
	s := subscribe(t, dir)
	p.subs.scan()
	return p, s
}

// TestInOrder: every message once, in order, under both policies, with
// TryPublish and with Claim/Commit.
func TestInOrder(t *testing.T) {
	for _, pol := range []Policy{Lossy, Reliable} {
		t.Run(pol.String(), func(t *testing.T) {
			p, dir := create(t, Options{Capacity: 64, Policy: pol})
			s := subscribe(t, dir)
			p.subs.scan()
			var next, seq uint64
			for range 20 {
				for range 30 {
					if !pub(p, seq) {
						t.Fatalf("publish %d refused", seq)
					}
					seq++
				}
				k := p.Claim(10)
				for i := range k {
					*p.Claimed(i) = tick{Seq: seq, Price: int64(seq) * 3}
					seq++
				}
				p.Commit()
				drain(t, s, &next)
			}
			if next != seq || s.Lost() != 0 || s.Lag() != 0 {
				t.Fatalf("read %d of %d, lost %d, lag %d", next, seq, s.Lost(), s.Lag())
			}
		})
	}
}

// TestLossyCountsExactly: a lapped subscriber gets the newest capacity-1
// messages and counts every other one as lost.
func TestLossyCountsExactly(t *testing.T) {
	p, dir := create(t, Options{Capacity: 8})
	s := subscribe(t, dir)
	for i := range uint64(20) {
		pub(p, i)
	}
	// Slot 0 holds message 16: resume at 16-8+1+1 = 10, whose slot holds
	// 18: resume at 12, still there.
	next := uint64(12)
	if n := drain(t, s, &next); n != 8 || s.Lost() != 12 || next != 20 {
		t.Fatalf("read %d (up to %d), lost %d", n, next, s.Lost())
	}
	// A larger ring: an eighth of it past the oldest the subscriber can
	// tell is there — slot 0 holds message 192: 193-64+8 = 137.
	p2, dir2 := create(t, Options{Capacity: 64})
	s2 := subscribe(t, dir2)
	for i := range uint64(200) {
		pub(p2, i)
	}
	next = 137
	if n := drain(t, s2, &next); n != 63 || s2.Lost() != 137 || next != 200 {
		t.Fatalf("capacity 64: read %d (up to %d), lost %d", n, next, s2.Lost())
	}
}

// TestReliableWaitsForTheSlowest: a full reliable topic refuses until the
// slowest subscriber reads; a closed subscriber stops holding it back.
func TestReliableWaitsForTheSlowest(t *testing.T) {
	p, dir := create(t, Options{Capacity: 8, Policy: Reliable})
	fast, slow := subscribe(t, dir), subscribe(t, dir)
	p.subs.scan()
	var nf, ns uint64
	for i := range uint64(8) {
		if !pub(p, i) {
			t.Fatalf("publish %d refused", i)
		}
	}
	drain(t, fast, &nf)
	for range 3 * scanLooks { // most looks read only the slow one's cell
		if pub(p, 8) {
			t.Fatal("published over the slow subscriber's unread message")
		}
	}
	if st := p.Stats(); st.Subscribers != 2 || st.Published != 8 {
		t.Fatalf("%+v", st)
	}
	slow.Poll(func(m *tick) { ns++ }, 3)
	for i := range uint64(3) {
		if !pub(p, 8+i) {
			t.Fatalf("publish %d refused with room", 8+i)
		}
	}
	if pub(p, 11) {
		t.Fatal("published past the slow subscriber again")
	}
	slow.Close()
	if !pub(p, 11) {
		t.Fatal("a closed subscriber still holds the topic back")
	}
}

// TestReliableWatchUnmapped: a blocked publisher watches the cell of the
// slowest subscriber; once that cell's segment is no longer mapped (its
// process died and the tracker let it go), the publisher does not read it
// and goes on.
func TestReliableWatchUnmapped(t *testing.T) {
	p, dir := create(t, Options{Capacity: 8, Policy: Reliable})
	subscribe(t, dir)
	p.subs.scan()
	for i := range uint64(8) {
		if !pub(p, i) {
			t.Fatalf("publish %d refused", i)
		}
	}
	for try := range 2 {
		if pub(p, 8) {
			t.Fatalf("try %d published over an unread message", try)
		}
	}
	tr := p.subs
	tr.mu.Lock()
	seg := tr.segs[tr.watchKey]
	delete(tr.segs, tr.watchKey) // kept mapped, closed by the test
	tr.dropNamed(tr.watchKey)    // the rest, as dropDead does
	tr.mu.Unlock()
	defer seg.Close()
	if seg == nil || !pub(p, 8) {
		t.Fatalf("watched segment %v; a subscriber let go still holds the topic back", seg)
	}
}

// TestHistory: a late joiner gets the last History messages first.
func TestHistory(t *testing.T) {
	p, dir := create(t, Options{Capacity: 16, History: 4})
	for i := range uint64(10) {
		pub(p, i)
	}
	s := subscribe(t, dir)
	next := uint64(6)
	if n := drain(t, s, &next); n != 4 || s.Lost() != 0 {
		t.Fatalf("history: %d messages, lost %d", n, s.Lost())
	}
}

// TestEvictions: a subscriber that stalls a reliable topic past
// StallTimeout, and one that writes a position beyond the tail, are
// evicted and told so; the others go on.
func TestEvictions(t *testing.T) {
	var logged []string
	p, dir := create(t, Options{Capacity: 8, Policy: Reliable, StallTimeout: 5 * time.Millisecond,
		Logf: func(f string, a ...any) { logged = append(logged, f) }})
	good, stall, liar := subscribe(t, dir), subscribe(t, dir), subscribe(t, dir)
	p.subs.scan()
	liar.cell.setPos(1 << 40)
	var next uint64
	for i := range uint64(40) {
		if err := p.Publish(&tick{Seq: i, Price: int64(i) * 3}); err != nil {
			t.Fatal(err)
		}
		drain(t, good, &next)
	}
	if next != 40 {
		t.Fatalf("the good subscriber read %d of 40", next)
	}
	for _, s := range []*Subscriber[tick]{stall, liar} {
		if _, err := s.Poll(func(*tick) {}, 0); !errors.Is(err, ErrEvicted) {
			t.Errorf("evicted subscriber's Poll: %v", err)
		}
	}
	if st := p.Stats(); st.Evicted != 2 || st.Subscribers != 1 || len(logged) != 2 {
		t.Fatalf("%+v, logged %q", st, logged)
	}
}

// TestMismatch: a subscriber whose type differs is told which field.
func TestMismatch(t *testing.T) {
	_, dir := create(t, Options{})
	type other struct {
		Seq   uint64
		Price int32
		Qty   int32
		Body  [5]uint64
	}
	_, err := Subscribe[other]("ticks", SubscribeOptions{Dir: dir})
	var me *layout.MismatchError
	if !errors.As(err, &me) || me.Field == "" {
		t.Fatalf("%v", err)
	}
	if _, err := Subscribe[tick]("nothing", SubscribeOptions{Dir: dir}); !errors.Is(err, ErrNoPublisher) {
		t.Fatalf("no publisher: %v", err)
	}
	if _, err := Create[tick]("ticks", Options{Dir: dir}); !errors.Is(err, ErrInUse) {
		t.Fatalf("second publisher: %v", err)
	}
	for _, o := range []Options{{Capacity: 3}, {Policy: 9}, {History: 5000}, {StallTimeout: -1}} {
		o.Dir = dir
		if _, err := Create[tick]("x", o); !errors.Is(err, ErrBadOption) {
			t.Errorf("%+v: %v", o, err)
		}
	}
	p, _ := Create[tick]("claims", Options{Dir: dir})
	defer p.Close()
	if p.Claim(2) != 2 || p.Publish(&tick{}) == nil || p.TryPublish(&tick{}) {
		t.Error("published with a claim pending")
	}
	p.Commit()
	if _, err := Create[tick]("a~b", Options{Dir: dir}); !errors.Is(err, ErrBadOption) {
		t.Errorf("name with ~: %v", err)
	}
}

// TestRestartedPublisher: a subscriber follows a publisher that comes back
// under the same name, from its start, and its Epoch changes.
func TestRestartedPublisher(t *testing.T) {
	dir := t.TempDir()
	p, err := Create[tick]("ticks", Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	s := subscribe(t, dir)
	pub(p, 0)
	var next uint64
	drain(t, s, &next)
	e0 := s.Epoch()
	p.Close()
	p2, _ := create(t, Options{Dir: dir})
	deadline := time.Now().Add(5 * time.Second)
	for s.Epoch() == e0 {
		if time.Now().After(deadline) {
			t.Fatal("the subscriber never followed the new publisher")
		}
		s.Poll(func(*tick) {}, 0)
	}
	pub(p2, 0)
	next = 0
	if n := drain(t, s, &next); n != 1 {
		t.Fatalf("after the restart: %d messages", n)
	}
}

// TestRestartFollowedWaiting: a subscriber in the usual loop of a quiet
// topic - Poll, and Wait(time.Minute) when there is nothing - follows a
// publisher that closed and came back under the same name within
// milliseconds (bound here: 2 s). (Wait slept on the old publisher's
// tail, which no one would move again, and Poll looked for a new
// publisher only every 256th time it found nothing: 256 waits.)
func TestRestartFollowedWaiting(t *testing.T) {
	p, dir := create(t, Options{})
	s := subscribe(t, dir)
	var p2 *Publisher[tick]
	got := make(chan uint64, 16)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
			}
			if n, _ := s.Poll(func(m *tick) {
				select {
				case got <- m.Seq:
				default: // the test has what it wanted
				}
			}, 0); n == 0 {
				s.Wait(time.Minute)
			}
		}
	}()
	defer func() {
		close(stop)
		for { // a publish wakes the loop's Wait
			select {
			case <-done:
				return
			case <-time.After(time.Millisecond):
				if p.seg == nil {
					p = p2
				}
				p.Publish(&tick{})
			}
		}
	}()
	p.Publish(&tick{Seq: 1})
	select {
	case v := <-got:
		if v != 1 {
			t.Fatalf("got %d", v)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the first message not received in 10 s")
	}
	time.Sleep(50 * time.Millisecond) // into a Wait
	p.Close()
	p2, _ = create(t, Options{Dir: dir})
	// A lossy topic without History: a follower starts at the tail, so the
	// new publisher publishes until one arrives.
	for end := time.Now().Add(2 * time.Second); ; {
		p2.Publish(&tick{Seq: 2})
		select {
		case v := <-got:
			if v != 2 {
				t.Fatalf("got %d", v)
			}
			return
		case <-time.After(5 * time.Millisecond):
		}
		if time.Now().After(end) {
			t.Fatal("the new publisher not followed in 2 s")
		}
	}
}

// TestManySubscribers: 256 subscribers (four subscriber segments) all
// receive every message of a reliable topic, and the publisher counts them.
func TestManySubscribers(t *testing.T) {
	p, dir := create(t, Options{Capacity: 64, Policy: Reliable})
	subs := make([]*Subscriber[tick], 256)
	next := make([]uint64, len(subs))
	for i := range subs {
		subs[i] = subscribe(t, dir)
	}
	p.subs.scan()
	if st := p.Stats(); st.Subscribers != 256 {
		t.Fatalf("%d subscribers", st.Subscribers)
	}
	for i := range uint64(500) {
		for !pub(p, i) {
			for j, s := range subs {
				drain(t, s, &next[j])
			}
		}
	}
	for j, s := range subs {
		drain(t, s, &next[j])
		if next[j] != 500 {
			t.Fatalf("subscriber %d read %d", j, next[j])
		}
	}
}

// TestCheckViewRefuses: each header field a hostile or half-made topic
// segment can get wrong is refused with its error — among them a schema
// text whose offset and length wrap past 2^64 (it used to panic slicing
// the text out) — and a segment of another message type gives the field
// that differs.
func TestCheckViewRefuses(t *testing.T) {
	p, _ := create(t, Options{Capacity: 2})
	sc := layout.MustOf[tick]()
	type edit func(b []byte)
	set := func(off int, v uint64) edit { return func(b []byte) { store(b, off, v) } }
	set32 := func(off int, v uint32) edit { return func(b []byte) { store32(b, off, v) } }
	both := func(es ...edit) edit {
		return func(b []byte) {
			for _, e := range es {
				e(b)
			}
		}
	}
	schemaAt := func(off, n uint64) edit { // with another fingerprint, so that the text is read
		return both(set(offSchemaOff, off), set32(offSchemaLen, uint32(n)), set(offFPrint, 1))
	}
	for name, c := range map[string]struct {
		edit edit
		want error
	}{
		"no magic yet":        {set(offMagic, 0), ErrNoPublisher},
		"magic":               {set(offMagic, 1), ErrCorrupt},
		"version":             {set32(offVersion, topicVersion+1), ErrCorrupt},
		"capacity 1":          {set(offCapacity, 1), ErrCorrupt},
		"capacity 3":          {set(offCapacity, 3), ErrCorrupt},
		"capacity 2^25":       {set(offCapacity, 1<<25), ErrCorrupt},
		"capacity past end":   {set(offCapacity, 1<<20), ErrCorrupt},
		"stride":              {set32(offStride, 64+64), ErrCorrupt},
		"size 0":              {both(set32(offMsgSize, 0), set32(offStride, 64)), ErrCorrupt},
		"history":             {set(offHistory, 3), ErrCorrupt},
		"schema wraps":        {schemaAt(^uint64(0)-10, 20), ErrCorrupt},
		"schema at 2^64-1":    {schemaAt(^uint64(0), 1), ErrCorrupt},
		"schema past end":     {schemaAt(uint64(len(p.mem))-4, 8), ErrCorrupt},
		"schema beyond end":   {schemaAt(uint64(len(p.mem))+1, 0), ErrCorrupt},
		"schema in the slots": {schemaAt(slotsOffset, 8), ErrCorrupt},
	} {
		m := make([]uint64, len(p.mem)/8)
		b := unsafeBytes(m, len(p.mem))
		copy(b, p.mem)
		c.edit(b)
		if _, err := checkView(b, sc); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", name, err, c.want)
		}
	}
	if _, err := checkView(p.mem, sc); err != nil {
		t.Fatalf("the publisher's own segment: %v", err)
	}
	type other struct {
		Seq   uint64
		Price float64
		Body  [5]uint64
	}
	var mm *layout.MismatchError
	if _, err := checkView(p.mem, layout.MustOf[other]()); !errors.As(err, &mm) || !strings.Contains(err.Error(), "Price") {
		t.Fatalf("another type: %v", err)
	}
	// Another type whose schema text cannot be read: the fingerprints.
	m := make([]uint64, len(p.mem)/8)
	b := unsafeBytes(m, len(p.mem))
	copy(b, p.mem)
	store(b, offFPrint, 1)
	soff := load(b, offSchemaOff)
	copy(b[soff:], "not a schema")
	if _, err := checkView(b, sc); !errors.As(err, &mm) || !strings.Contains(err.Error(), "fingerprint 0x0000000000000001 at the peer") {
		t.Fatalf("another type, schema unreadable: %v", err)
	}
}

// FuzzCheckView: any topic header is checked without a panic or a read
// outside it.
func FuzzCheckView(f *testing.F) {
	dir := f.TempDir()
	p, err := Create[tick]("ticks", Options{Dir: dir, Capacity: 2})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(append([]byte(nil), p.mem[:slotsOffset+256]...))
	p.Close()
	sc := layout.MustOf[tick]()
	f.Fuzz(func(t *testing.T, b []byte) {
		m := make([]uint64, (len(b)+7)/8)
		body := unsafeBytes(m, len(b))
		copy(body, b)
		if v, err := checkView(body, sc); err == nil && slotsOffset+v.capacity*uint64(v.stride) > uint64(len(b)) {
			t.Fatalf("accepted %d slots of %d in %d bytes", v.capacity, v.stride, len(b))
		}
	})
}

// FuzzPoll: whatever a hostile publisher writes in its slots, its tail and
// its eviction table, Poll returns (bounded by its limit), never panics,
// never reads outside the ring, and every message it hands over was
// checked against its sequence.
func FuzzPoll(f *testing.F) {
	p, s := pair[tick](f, "ticks", 4)
	for i := range uint64(6) {
		pub(p, i)
	}
	region := slotsOffset + 4*int(p.stride)
	f.Add(append([]byte(nil), p.mem[offTail:region]...), uint64(0))
	f.Add(make([]byte, region-offTail), uint64(3))
	f.Fuzz(func(t *testing.T, b []byte, pos uint64) {
		// A private copy of the topic segment whose tail, eviction table
		// and slots the fuzzer wrote.
		m := make([]uint64, len(p.mem)/8)
		mem := unsafeBytes(m, len(p.mem))
		copy(mem, p.mem)
		copy(mem[offTail:region], b)
		v := s.t
		v.mem, v.slots = mem, unsafe.Pointer(&mem[slotsOffset])
		v.reliable = pos&1 != 0 // the in-place paths too
		sub := func() *Subscriber[tick] {
			sub := &Subscriber[tick]{name: s.name, dir: s.dir, opts: s.opts, schema: s.schema, t: v, pos: pos,
				scratch: make([]uint64, len(s.scratch)), cell: s.cell, token: s.token, conn: -1, where: s.where}
			return sub
		}
		polled, acquired := sub(), sub()
		for range 3 {
			n, _ := polled.Poll(func(m *tick) {}, 0)
			if n > int(v.capacity) {
				t.Fatalf("Poll: %d messages from a ring of %d", n, v.capacity)
			}
			k := acquired.Acquire(0)
			if k > int(v.capacity) {
				t.Fatalf("Acquire: %d messages from a ring of %d", k, v.capacity)
			}
			for i := range k {
				_ = acquired.At(i).Seq // readable, wherever it points
			}
			acquired.Release(k)
		}
	})
}

// TestLatencyStamps: a subscriber with a Latency recorder gets one sample
// per StampEvery messages it takes while their stamps stand, through
// TryPublish and Claim/Commit alike; one that falls StampEvery behind gets
// none for the stamps overwritten meanwhile.
func TestLatencyStamps(t *testing.T) {
	p, dir := create(t, Options{Capacity: 1024, Policy: Lossy})
	var got samples
	s, err := Subscribe[tick]("ticks", SubscribeOptions{Dir: dir, Latency: &got})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var m tick
	for range 2 * StampEvery { // positions 0 and 256 stamped, taken as they come
		p.TryPublish(&m)
		s.TryReceive(&m)
	}
	if n := p.Claim(StampEvery); n != StampEvery { // 512 stamped at Commit
		t.Fatalf("claimed %d", n)
	}
	p.Commit()
	for s.TryReceive(&m) {
	}
	if len(got) != 3 {
		t.Fatalf("%d samples, want 3", len(got))
	}
	for range 2 * StampEvery { // 768 and 1024 stamped; 768's is gone when the subscriber looks
		p.TryPublish(&m)
	}
	for s.TryReceive(&m) {
	}
	if len(got) != 4 {
		t.Fatalf("%d samples after falling behind, want 4 (768's lost)", len(got))
	}
	for _, v := range got {
		if v < 0 || v > int64(time.Minute) {
			t.Fatalf("sample %d ns", v)
		}
	}
}

// TestWait: Wait returns at once with a message there, false at its
// timeout with none, and is woken by the next publish long before its
// timeout: through the bell, which it rings and the publish clears, or,
// without the bell's handshake, once the tracker has seen it parked and
// holds the bell. A woken subscriber takes the message with Poll.
func TestWait(t *testing.T) {
	for _, withBell := range []bool{true, false} {
		p, dir := create(t, Options{Capacity: 64})
		s := subscribe(t, dir)
		if s.t.bell == nil {
			t.Fatal("no bell")
		}
		if !withBell {
			s.t.bell = nil // as with a publisher of an earlier version
		}
		if s.Wait(time.Millisecond) {
			t.Fatal("Wait with nothing published reported a message")
		}
		p.TryPublish(&tick{Seq: 1})
		if !s.Wait(time.Minute) {
			t.Fatal("Wait with a message there")
		}
		var m tick
		s.TryReceive(&m)
		atomic.StoreUint32(p.bell, 0)
		done := make(chan time.Duration, 1)
		go func() {
			t0 := time.Now()
			s.Wait(time.Minute)
			done <- time.Since(t0)
		}()
		want := uint32(bellRung)
		if !withBell {
			want = bellHeld
		}
		if !eventually(func() bool { return atomic.LoadUint32(p.bell) == want }) {
			t.Fatalf("bell %v: %d, want %d", withBell, atomic.LoadUint32(p.bell), want)
		}
		p.TryPublish(&tick{Seq: 2})
		if d := <-done; d >= time.Minute {
			t.Fatalf("bell %v: Wait slept its whole timeout (%v): the publish did not wake it", withBell, d)
		}
		if !s.TryReceive(&m) || m.Seq != 2 {
			t.Fatalf("bell %v: after the wake: %+v", withBell, m)
		}
		if withBell && atomic.LoadUint32(p.bell) != 0 {
			t.Fatalf("the publish left the bell at %d", atomic.LoadUint32(p.bell))
		}
	}
}

// TestWaitMissedWake: a subscriber that parks in Wait with a long
// timeout on a quiet topic, and a message published without a wake - its
// ring lost (the race wait.go describes), or, without the bell, before
// the tracker has seen it parked: the tracker's next look wakes it,
// instead of its sleeping out the timeout (or, here, the slice of it
// that followEvery would otherwise end).
func TestWaitMissedWake(t *testing.T) {
	defer func(d time.Duration) { followEvery = d }(followEvery)
	followEvery = time.Minute // no slice ends the wait: the tracker must
	for _, withBell := range []bool{true, false} {
		p, dir := create(t, Options{Capacity: 64})
		s := subscribe(t, dir)
		if !withBell {
			s.t.bell = nil
		}
		done := make(chan bool, 1)
		go func() { done <- s.Wait(time.Minute) }()
		parked := (*uint32)(unsafe.Pointer(&s.cell.s.mem[s.cell.off+cellParked]))
		if !eventually(func() bool { return atomic.LoadUint32(parked) != 0 }) {
			t.Fatal("the subscriber did not park")
		}
		time.Sleep(time.Millisecond)  // into futex_wait, most likely
		atomic.StoreUint32(p.bell, 0) // the ring lost, or the tracker not looked since
		p.TryPublish(&tick{Seq: 1})
		select {
		case got := <-done:
			if !got {
				t.Fatalf("bell %v: woken without the message", withBell)
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("bell %v: Wait sleeps on with a message there", withBell)
		}
	}
}

// TestBellFds: a subscriber holds one descriptor, its topic segment's;
// its bell is mapped without one.
func TestBellFds(t *testing.T) {
	_, dir := create(t, Options{Capacity: 64})
	subscribe(t, dir) // and the process's subscriber segment
	fds := func() int { ents, _ := os.ReadDir("/proc/self/fd"); return len(ents) }
	before := fds()
	s := subscribe(t, dir)
	if s.t.bell == nil || fds() != before+1 {
		t.Fatalf("bell %v; descriptors %d, then %d", s.t.bell != nil, before, fds())
	}
}

// TestShortParksSeen: a subscriber without the bell's handshake that
// parks only between two of the tracker's looks (a wake came quickly) is
// seen all the same, by its count of parks, so that the publisher goes on
// waking it.
func TestShortParksSeen(t *testing.T) {
	p, dir := create(t, Options{Capacity: 64})
	s := subscribe(t, dir)
	time.Sleep(5 * livenessEvery) // looks that see no park
	if atomic.LoadUint32(p.bell) != 0 {
		t.Fatal("waking with no one parked")
	}
	s.cell.countPark() // as Wait does; parked and woken before the next look
	if !eventually(func() bool { return atomic.LoadUint32(p.bell) == bellHeld }) {
		t.Fatal("the park between two looks not seen")
	}
}

// TestRaw: a raw subscriber reads a typed publisher's messages as bytes,
// with the topic's schema; a typed subscriber reads a raw publisher's; a
// message of another length is refused, as is a raw topic without a
// schema; a raw subscriber of no topic waits, then says ErrNoPublisher.
func TestRaw(t *testing.T) {
	p, dir := create(t, Options{Capacity: 64})
	rs, err := SubscribeRaw("ticks", SubscribeOptions{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	if rs.Schema().Name != "topic.tick" || rs.Schema().Size != unsafe.Sizeof(tick{}) {
		t.Fatalf("schema %+v", rs.Schema())
	}
	p.TryPublish(&tick{Seq: 7})
	var got []byte
	if n, err := rs.Poll(func(b []byte) { got = append(got[:0], b...) }, 0); n != 1 || err != nil {
		t.Fatalf("raw poll: %d %v", n, err)
	}
	if m := (*tick)(unsafe.Pointer(&got[0])); m.Seq != 7 {
		t.Fatalf("raw message %+v", m)
	}
	p.TryPublish(&tick{Seq: 8}) // PollInPlace: a raw subscriber's copy too
	if n, err := rs.PollInPlace(func(b []byte) { got = append(got[:0], b...) }, 0); n != 1 || err != nil ||
		(*tick)(unsafe.Pointer(&got[0])).Seq != 8 {
		t.Fatalf("raw PollInPlace: %d %v % x", n, err, got)
	}
	sc := rs.Schema()
	rp, err := CreateRaw("raw", sc, Options{Dir: dir, Capacity: 64})
	if err != nil {
		t.Fatal(err)
	}
	defer rp.Close()
	s, err := Subscribe[tick]("raw", SubscribeOptions{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if rp.TryPublish(got[:3]) || rp.Publish(got[:3]) == nil {
		t.Fatal("a short message published")
	}
	(*tick)(unsafe.Pointer(&got[0])).Seq = 9
	if !rp.TryPublish(got) {
		t.Fatal("raw publish")
	}
	var m tick
	if !s.TryReceive(&m) || m.Seq != 9 {
		t.Fatalf("typed receive of a raw publish: %+v", m)
	}
	// Zero copy: two claimed slots filled in place, one Commit.
	if rp.Claim(2) != 2 || rp.Claimed(2) != nil || rp.Claimed(-1) != nil || len(rp.Claimed(0)) != len(got) {
		t.Fatal("raw claim")
	}
	for i := range 2 {
		copy(rp.Claimed(i), got)
		(*tick)(unsafe.Pointer(&rp.Claimed(i)[0])).Seq = uint64(20 + i)
	}
	rp.Commit()
	for i := range 2 {
		if !s.TryReceive(&m) || m.Seq != uint64(20+i) {
			t.Fatalf("claimed raw message %d: %+v", i, m)
		}
	}
	sink := func([]byte) {}
	if a := testing.AllocsPerRun(100, func() {
		rp.TryPublish(got)
		s.TryReceive(&m)
		p.TryPublish(&m)
		rs.Poll(sink, 0)
	}); a != 0 {
		t.Fatalf("%v allocations per raw publish and receive", a)
	}
	if _, err := CreateRaw("none", nil, Options{Dir: dir}); !errors.Is(err, ErrBadOption) {
		t.Fatalf("no schema: %v", err)
	}
	if _, err := SubscribeRaw("nothing", SubscribeOptions{Dir: dir, Wait: 5 * time.Millisecond}); !errors.Is(err, ErrNoPublisher) {
		t.Fatalf("no publisher: %v", err)
	}
}

// TestRecords: records of any length up to the maximum arrive with their
// types, in order, without allocating; a longer one is refused; a record
// whose length says more than the maximum (a hostile publisher) is
// skipped with ErrCorrupt; a topic of another type is not a records topic.
func TestRecords(t *testing.T) {
	dir := t.TempDir()
	p, err := CreateRecords("recs", 100, Options{Dir: dir, Capacity: 64})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if p.MaxRecord() != 104 {
		t.Fatalf("max %d", p.MaxRecord())
	}
	s, err := SubscribeRecords("recs", SubscribeOptions{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for i := range 10 {
		if err := p.Publish(uint32(i), []byte(strings.Repeat("x", i*10))); err != nil {
			t.Fatal(err)
		}
	}
	next := 0
	if n, err := s.Poll(func(typ uint32, b []byte) {
		if typ != uint32(next) || len(b) != next*10 {
			t.Fatalf("record %d: type %d, %d bytes", next, typ, len(b))
		}
		next++
	}, 0); n != 10 || err != nil {
		t.Fatalf("poll: %d %v", n, err)
	}
	p.Publish(3, []byte("abc"))
	if n, err := s.PollInPlace(func(typ uint32, b []byte) {
		if typ != 3 || string(b) != "abc" {
			t.Fatalf("PollInPlace: type %d, %q", typ, b)
		}
	}, 0); n != 1 || err != nil {
		t.Fatalf("records PollInPlace: %d %v", n, err)
	}
	if p.TryPublish(1, make([]byte, 105)) || p.Publish(1, make([]byte, 105)) == nil {
		t.Fatal("a record over the maximum")
	}
	bad := make([]byte, 8+104)
	binary.LittleEndian.PutUint32(bad, 1000)
	p.RawPublisher.TryPublish(bad)
	p.TryPublish(7, []byte("ok"))
	var got []string
	if n, err := s.Poll(func(_ uint32, b []byte) { got = append(got, string(b)) }, 0); n != 2 || !errors.Is(err, ErrCorrupt) || len(got) != 1 || got[0] != "ok" {
		t.Fatalf("hostile length: %d %v %q", n, err, got)
	}
	sink := func(uint32, []byte) {}
	rec := []byte("abc")
	if a := testing.AllocsPerRun(100, func() {
		p.TryPublish(3, rec)
		s.Poll(sink, 0)
	}); a != 0 {
		t.Fatalf("%v allocations per record", a)
	}
	create(t, Options{Dir: dir})
	if _, err := SubscribeRecords("ticks", SubscribeOptions{Dir: dir}); !errors.Is(err, ErrBadOption) {
		t.Fatalf("a ticks topic as records: %v", err)
	}
	if _, err := CreateRecords("r2", 0, Options{Dir: dir}); !errors.Is(err, ErrBadOption) {
		t.Fatalf("size 0: %v", err)
	}
}

// TestCloseInHandler: a handler that closes its Subscriber ends the Poll
// with ErrClosed, and Poll writes nothing to the freed cell (the only one
// of its segment, which Close unmaps).
func TestCloseInHandler(t *testing.T) {
	for _, pol := range []Policy{Lossy, Reliable} {
		for _, inPlace := range []bool{false, true} {
			p, dir := create(t, Options{Capacity: 64, Policy: pol})
			s, err := Subscribe[tick]("ticks", SubscribeOptions{Dir: dir})
			if err != nil {
				t.Fatal(err)
			}
			p.subs.scan()
			for i := range 3 {
				p.TryPublish(&tick{Seq: uint64(i + 1)})
			}
			poll := s.Poll
			if inPlace {
				poll = s.PollInPlace
			}
			n, err := poll(func(*tick) { s.Close() }, 0)
			if n != 1 || !errors.Is(err, ErrClosed) {
				t.Fatalf("%v, in place %v: Poll: %d, %v", pol, inPlace, n, err)
			}
			if n, err := poll(func(*tick) {}, 0); n != 0 || !errors.Is(err, ErrClosed) {
				t.Fatalf("%v, in place %v: Poll after Close: %d, %v", pol, inPlace, n, err)
			}
		}
	}
}

// TestPollInPlace: on a reliable topic the handler gets the slot itself,
// which the publisher cannot rewrite while the handler runs — each handler
// publishes all the room allows and finds its message unchanged, across
// the position stores every posEvery — every message once, in order, with
// no allocation; on a lossy topic it gets the subscriber's own copy.
func TestPollInPlace(t *testing.T) {
	p, s := reliableOne(t, 128)
	var next, seq uint64
	for range 5 {
		fill(p, &seq)
		n, err := s.PollInPlace(func(m *tick) {
			if m == &s.msg && next%StampEvery != 0 { // stamped ones are copied
				t.Fatalf("message %d: handed a copy", next)
			}
			want := m.Seq
			fill(p, &seq)
			if m.Seq != want || want != next || m.Price != int64(next)*3 {
				t.Fatalf("message %d: seq %d, then %d once the publisher filled the room", next, want, m.Seq)
			}
			next++
		}, 0)
		if err != nil || n == 0 {
			t.Fatalf("PollInPlace: %d, %v", n, err)
		}
	}
	drain(t, s, &next)
	if next != seq {
		t.Fatalf("read up to %d of %d", next, seq)
	}
	if a := testing.AllocsPerRun(100, func() {
		pub(p, seq)
		s.PollInPlace(func(*tick) { next++ }, 0)
		seq++
	}); a != 0 {
		t.Fatalf("%v allocations per message", a)
	}

	lp, ldir := create(t, Options{Capacity: 8})
	ls := subscribe(t, ldir)
	pub(lp, 0)
	pub(lp, 1)
	if n, _ := ls.PollInPlace(func(m *tick) {
		if m != &ls.msg {
			t.Fatal("lossy: handed the slot, not a copy")
		}
	}, 0); n != 2 {
		t.Fatalf("lossy: %d messages", n)
	}
}

// TestFollowDrainsFirst: a subscriber that finds a new publisher of the
// name reads what the old one published before it went, then follows —
// even when it looks at the name between the old publisher's last publish
// and its own next Poll.
func TestFollowDrainsFirst(t *testing.T) {
	p1, dir := create(t, Options{Capacity: 64})
	s := subscribe(t, dir)
	for i := range 3 {
		p1.TryPublish(&tick{Seq: uint64(i)})
	}
	epoch := s.Epoch()
	p1.Close()
	p2, err := Create[tick]("ticks", Options{Dir: dir, Capacity: 64})
	if err != nil {
		t.Fatal(err)
	}
	defer p2.Close()
	s.follow() // as housekeep would, had a Poll just found nothing
	if s.Epoch() != epoch {
		t.Fatal("followed the new publisher with the old one's messages unread")
	}
	var got []uint64
	if n, err := s.Poll(func(m *tick) { got = append(got, m.Seq) }, 0); n != 3 || err != nil || got[2] != 2 {
		t.Fatalf("old publisher's messages: %d %v %v", n, err, got)
	}
	s.follow()
	if s.Epoch() == epoch {
		t.Fatal("did not follow the new publisher once the old one was read")
	}
	p2.TryPublish(&tick{Seq: 7})
	if !s.TryReceive(&tick{}) {
		t.Fatal("nothing from the new publisher")
	}
}

// TestMessageSizes: messages of 1, 3, 7 and 16 words (TryPublish's single
// asm.SeqWrite call) and of 17 and 65 (past seqWriteMax: the copy between
// two sequence stores) arrive whole,
// every byte, the tail counting each.
func TestMessageSizes(t *testing.T) {
	testSize[[1]uint64](t)
	testSize[[3]uint64](t)
	testSize[[7]uint64](t)
	testSize[[16]uint64](t)
	testSize[[17]uint64](t)
	testSize[[65]uint64](t)
}

func testSize[T any](t *testing.T) {
	var zero T
	size := int(unsafe.Sizeof(zero))
	t.Run(strconv.Itoa(size), func(t *testing.T) {
		p, s := pair[T](t, "sized", 8)
		fill := func(m *T, k int) []byte {
			b := unsafe.Slice((*byte)(unsafe.Pointer(m)), size)
			for i := range b {
				b[i] = byte(k*31 + i)
			}
			return b
		}
		for k := range 20 {
			var m, want T
			fill(&m, k)
			wb := fill(&want, k)
			if !p.TryPublish(&m) {
				t.Fatalf("message %d refused", k)
			}
			var got T
			if !s.TryReceive(&got) {
				t.Fatalf("message %d not received", k)
			}
			if gb := unsafe.Slice((*byte)(unsafe.Pointer(&got)), size); !bytes.Equal(gb, wb) {
				t.Fatalf("message %d: got % x, want % x", k, gb, wb)
			}
		}
		if st := p.Stats(); st.Published != 20 {
			t.Fatalf("tail %d, want 20", st.Published)
		}
	})
}

// TestReliableHistoryJoiner: a subscriber that joins a reliable topic
// with History gets the last History messages (Capacity less an eighth
// at most) and then every message, however far the publisher had gone
// since it last looked at its subscribers; the publisher fills the ring
// behind it and waits, and never evicts it.
func TestReliableHistoryJoiner(t *testing.T) {
	const capacity = 16
	for _, history := range []int{4, 14, capacity} {
		given := uint64(min(history, 14))
		for before := range uint64(2*capacity + 1) {
			p, dir := create(t, Options{Capacity: capacity, Policy: Reliable, History: history})
			var seq uint64
			for ; seq < before; seq++ {
				if !pub(p, seq) {
					t.Fatalf("history %d: no subscriber, yet full at %d", history, seq)
				}
			}
			s := subscribe(t, dir)
			fillAtMost(t, p, &seq, capacity)
			next := before - min(before, given)
			if seq-next != capacity {
				t.Errorf("history %d, %d before: full at %d, %d past the joiner's start %d", history, before, seq, seq-next, next)
			}
			if n := drain(t, s, &next); next != seq || s.Lost() != 0 {
				t.Fatalf("history %d, %d before: read %d, up to %d of %d, lost %d", history, before, n, next, seq, s.Lost())
			}
			if st := p.Stats(); st.Evicted != 0 || st.Subscribers != 1 {
				t.Fatalf("history %d, %d before: %+v", history, before, st)
			}
		}
	}
}

// TestPositionBehindHolds: a cell whose position falls behind the oldest
// message kept (a joiner's first, stale when read, or a faulty
// subscriber's) holds a reliable publisher as one at the oldest would,
// and is not evicted for it; once it moves on, the publisher does too.
func TestPositionBehindHolds(t *testing.T) {
	p, dir := create(t, Options{Capacity: 8, Policy: Reliable, StallTimeout: time.Hour})
	s := subscribe(t, dir)
	var seq, next uint64
	for range 3 {
		fill(p, &seq)
		drain(t, s, &next)
	}
	s.cell.setPos(1) // far behind the tail (24)
	fillAtMost(t, p, &seq, 8)
	s.cell.setPos(next)
	fillAtMost(t, p, &seq, 8)
	if n := drain(t, s, &next); n != 8 || next != seq {
		t.Fatalf("read %d, up to %d of %d", n, next, seq)
	}
	if st := p.Stats(); st.Evicted != 0 || st.Subscribers != 1 {
		t.Fatalf("%+v", st)
	}
}

// TestRestartedReliableHistory: a subscriber that follows a restarted
// reliable publisher with History starts at the new one's tail less the
// history, and gets every message from there on without being evicted,
// whatever its position was under the publisher before.
func TestRestartedReliableHistory(t *testing.T) {
	dir := t.TempDir()
	p, err := Create[tick]("ticks", Options{Dir: dir, Policy: Reliable, Capacity: 8})
	if err != nil {
		t.Fatal(err)
	}
	s := subscribe(t, dir)
	var seq, next uint64
	for range 12 { // the old position (96) is beyond the new publisher's tail
		fill(p, &seq)
		drain(t, s, &next)
	}
	e0 := s.Epoch()
	p.Close()
	p2, _ := create(t, Options{Dir: dir, Policy: Reliable, Capacity: 8, History: 4})
	for seq = 0; seq < 9; seq++ { // it looked at its cells at 8: none yet
		pub(p2, seq)
	}
	next = 5 // the tail (9) less the history
	check := func(m *tick) {
		if m.Seq != next {
			t.Fatalf("got %d, want %d", m.Seq, next)
		}
		next++
	}
	for deadline := time.Now().Add(5 * time.Second); s.Epoch() == e0; {
		if time.Now().After(deadline) {
			t.Fatal("the subscriber never followed the new publisher")
		}
		if _, err := s.Poll(check, 0); err != nil {
			t.Fatal(err)
		}
	}
	from := next
	fillAtMost(t, p2, &seq, 8)
	if _, err := s.Poll(check, 0); err != nil || next != seq || seq != from+8 {
		t.Fatalf("%v: read up to %d of %d", err, next, seq)
	}
	if st := p2.Stats(); st.Evicted != 0 {
		t.Fatalf("%+v", st)
	}
}

// TestEvictionNoticeOverwritten: a reliable subscriber evicted while
// more evictions than the topic's table keeps followed (their tokens
// overwrote its own) still learns it was evicted when it finds itself
// lapped, instead of reading on as if the topic were lossy.
func TestEvictionNoticeOverwritten(t *testing.T) {
	p, dir := create(t, Options{Capacity: 8, Policy: Reliable, StallTimeout: time.Millisecond})
	s := subscribe(t, dir)
	var seq uint64
	for range 16 { // s reads nothing: evicted once it has held the publisher for StallTimeout
		if err := p.Publish(&tick{Seq: seq, Price: int64(seq) * 3}); err != nil {
			t.Fatal(err)
		}
		seq++
	}
	for i := range uint64(evictSlots + 10) {
		p.subs.evict(s.token+2*(i+1), "another")
	}
	if st := p.Stats(); st.Evicted != evictSlots+11 {
		t.Fatalf("%+v", st)
	}
	if _, err := s.Poll(func(*tick) {}, 0); !errors.Is(err, ErrEvicted) || s.Lost() != 0 {
		t.Fatalf("Poll: %v, lost %d", err, s.Lost())
	}
}

// evictRotating has liar's cell evicted n times, as a hostile subscriber
// could: each time a new token (liar.token+2, +4, …) and a position beyond
// the tail, then a look at the cells.
func evictRotating(p *Publisher[tick], liar *Subscriber[tick], n int) {
	for i := range uint64(n) {
		store(liar.cell.s.mem, liar.cell.off+cellToken, liar.token+2*(i+1))
		liar.cell.setPos(1 << 40)
		p.subs.positions(p.tail)
	}
}

// TestEvictedTokensBounded: a subscriber that has itself evicted again
// and again under new tokens (a hostile one) does not grow the
// publisher's table of evicted tokens: the housekeeping forgets those no
// cell holds any more, and an honest evicted subscriber's stays while its
// cell does.
func TestEvictedTokensBounded(t *testing.T) {
	p, dir := create(t, Options{Capacity: 8, Policy: Reliable})
	honest, liar := subscribe(t, dir), subscribe(t, dir)
	honest.cell.setPos(1 << 40) // evicted first, and keeps its cell
	p.subs.positions(p.tail)
	evictRotating(p, liar, 1000)
	if st := p.Stats(); st.Evicted != 1001 {
		t.Fatalf("%+v", st)
	}
	kept := func() int {
		p.subs.evMu.Lock()
		defer p.subs.evMu.Unlock()
		return len(p.subs.evicted)
	}
	for deadline := time.Now().Add(5 * time.Second); kept() != 2; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) { // the tracker prunes at every scan (10 ms)
			t.Fatalf("%d evicted tokens kept", kept())
		}
	}
	if !p.subs.isEvicted(honest.token) || !p.subs.isEvicted(liar.token+2000) {
		t.Fatal("forgot a token a cell still holds")
	}
	for seq := range uint64(16) { // nobody left to wait for: it laps them
		pub(p, seq)
	}
	if _, err := honest.Poll(func(*tick) {}, 0); !errors.Is(err, ErrEvicted) {
		t.Fatalf("honest: %v", err)
	}
}

// TestPeerLinesBudgeted: a subscriber that has itself evicted again and
// again (a hostile one) gets ten lines into the publisher's log at once,
// then one a second, which says how many were held back.
func TestPeerLinesBudgeted(t *testing.T) {
	log := &logLines{}
	p, dir := create(t, Options{Capacity: 8, Policy: Reliable, Logf: log.logf})
	liar := subscribe(t, dir)
	evictRotating(p, liar, 100)
	if lines := log.get(); p.Stats().Evicted != 100 || len(lines) != 10 {
		t.Fatalf("%d evictions, %d lines: %q", p.Stats().Evicted, len(lines), lines)
	}
}

// logLines collects a publisher's log lines (Options.Logf).
type logLines struct {
	mu    sync.Mutex
	lines []string
}

func (l *logLines) logf(f string, a ...any) {
	l.mu.Lock()
	l.lines = append(l.lines, fmt.Sprintf(f, a...))
	l.mu.Unlock()
}

func (l *logLines) get() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.lines)
}

// TestSubscriberSegmentsBounded: a process of the publisher's uid that
// links more subscriber segments than maxSubSegs makes the publisher map
// maxSubSegs of them and say so once; when some of them go, their
// mappings go, and a subscriber that comes then is seen and counted.
func TestSubscriberSegmentsBounded(t *testing.T) {
	log := &logLines{}
	p, dir := create(t, Options{Capacity: 8, Policy: Reliable, Logf: log.logf})
	segs := hostileSegments(t, dir, maxSubSegs+50)
	mapped := func() int { return mappedSegments(p) }
	until := func(what string, cond func() bool) {
		t.Helper()
		if !eventually(cond) {
			t.Fatalf("%s: %d segments mapped, %+v", what, mapped(), p.Stats())
		}
	}
	gen := load(p.mem, offScanGen)
	until("full", func() bool { return load(p.mem, offScanGen) >= gen+3 })
	if lines := log.get(); mapped() != maxSubSegs || len(lines) != 1 {
		t.Fatalf("%d segments mapped of %d linked; log %q", mapped(), len(segs), lines)
	}
	for _, seg := range segs[:150] {
		seg.Close()
	}
	until("150 gone", func() bool { return mapped() == maxSubSegs-100 })
	s := subscribe(t, dir)
	until("an honest subscriber", func() bool { return mapped() == maxSubSegs-100+1 && p.Stats().Subscribers == 1 })
	p.TryPublish(&tick{Seq: 1})
	if n, err := s.Poll(func(*tick) {}, 0); n != 1 || err != nil {
		t.Fatalf("honest subscriber: %d %v", n, err)
	}
}

// TestDeadSegmentsFoundInTurn: with more subscriber segments asked after
// by name (no pidfd) than a look asks after (livenessLooks), the ones
// that go are found however far down the list they are: the looks take
// the segments in turn, and len/livenessLooks of them take all.
func TestDeadSegmentsFoundInTurn(t *testing.T) {
	p, dir := create(t, Options{Capacity: 8})
	segs := map[string]*layout.Segment{}
	for _, seg := range hostileSegments(t, dir, 4*livenessLooks) {
		segs[filepath.Base(seg.Path())] = seg
	}
	tr := testTracker(t, p)
	tr.noPidfd = true
	scanPass(t, tr)
	if len(tr.asked) != len(segs) {
		t.Fatalf("%d of %d segments asked after by name", len(tr.asked), len(segs))
	}
	for _, n := range tr.asked[len(tr.asked)-10:] { // the last ten in turn
		segs[n].Close()
	}
	for look := 1; look <= 4; look++ {
		tr.dropDead()
		if want := len(segs) - 10*(look/4); len(tr.segs) != want {
			t.Fatalf("look %d: %d segments mapped, want %d", look, len(tr.segs), want)
		}
	}
}

// hostileSegments links n subscriber segments named ticks~shostile.I in
// dir, as a process of the publisher's uid could, closed with the test.
func hostileSegments(t testing.TB, dir string, n int) []*layout.Segment {
	t.Helper()
	segs := make([]*layout.Segment, n)
	for i := range segs {
		segs[i] = subscriberSegment(t, dir, "ticks~shostile."+strconv.Itoa(i))
	}
	return segs
}

// subscriberSegment links a subscriber segment (no cell taken) as name in
// dir, closed with the test.
func subscriberSegment(t testing.TB, dir, name string) *layout.Segment {
	t.Helper()
	seg, err := layout.Create(subLength, layout.Options{Fingerprint: subFPrint, Dir: dir, Name: name})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { seg.Close() })
	store32(seg.Body(), 8, subVersion)
	store(seg.Body(), 0, subMagic)
	return seg
}

// mappedSegments returns how many subscriber segments p's tracker maps.
func mappedSegments(p *Publisher[tick]) int {
	p.subs.mu.RLock()
	defer p.subs.mu.RUnlock()
	return len(p.subs.segs)
}

// eventually waits, 10 s at most, for the housekeeping goroutine (a look
// every millisecond, a scan every 10) to make cond true, and reports
// whether it did.
func eventually(cond func() bool) bool {
	for end := time.Now().Add(10 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(end) {
			return false
		}
	}
	return true
}

// TestDefaultDir: with Dir empty, a publisher and a subscriber meet in
// DefaultDir, "topic" in link.Dir(), made with mode 0700; a topic
// directory that others may read or write, or a symbolic link to one, is
// refused by both.
func TestDefaultDir(t *testing.T) {
	run := t.TempDir()
	t.Setenv("XDG_RUNTIME_DIR", run)
	p, err := Create[tick]("ticks", Options{})
	if err != nil {
		t.Fatal(err)
	}
	s, err := Subscribe[tick]("ticks", SubscribeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p.TryPublish(&tick{Seq: 7})
	var got tick
	if n, err := s.Poll(func(m *tick) { got = *m }, 1); n != 1 || err != nil || got.Seq != 7 {
		t.Fatalf("poll: %d %v %+v", n, err, got)
	}
	s.Close()
	p.Close()
	d := filepath.Join(run, "spinwire", "topic")
	if fi, err := os.Lstat(d); err != nil || fi.Mode() != os.ModeDir|0o700 {
		t.Fatalf("%s: %v %v", d, fi.Mode(), err)
	}
	refused := func(what string) {
		t.Helper()
		_, err1 := Create[tick]("ticks", Options{})
		_, err2 := Subscribe[tick]("ticks", SubscribeOptions{})
		for _, err := range []error{err1, err2} {
			if err == nil || !strings.Contains(err.Error(), "topic: directory "+d+" must be") {
				t.Errorf("%s: %v", what, err)
			}
		}
	}
	os.Chmod(d, 0o755)
	refused("mode 0755")
	os.Remove(d)
	os.Symlink(t.TempDir(), d)
	refused("a symbolic link")
}

// TestUseAfterClose: every method of a closed Publisher and a closed
// Subscriber answers without touching the unmapped segments — a claim
// pending at Close is dropped, Stats keeps the last counts (package
// stat's sampler may read them after Close) — and Stats may run on
// another goroutine while the owner closes.
func TestUseAfterClose(t *testing.T) {
	p, dir := create(t, Options{Capacity: 8})
	s := subscribe(t, dir)
	for i := range uint64(3) {
		pub(p, i)
	}
	if n, err := s.Poll(func(*tick) {}, 1); n != 1 || err != nil {
		t.Fatalf("poll: %d %v", n, err)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
				p.Stats()
				s.Stats()
				runtime.Gosched()
			}
		}
	})
	p.Claim(2)
	s.Close()
	p.Close()
	close(stop)
	wg.Wait()
	if p.Claimed(0) != nil || p.Claim(1) != 0 || p.TryPublish(&tick{}) || p.Publish(&tick{}) != ErrClosed {
		t.Fatal("a closed publisher claimed or published")
	}
	p.Commit()
	if st := p.Stats(); st.Published != 3 || st.Subscribers != 0 {
		t.Fatalf("publisher stats after Close: %+v", st)
	}
	if p.Close() != ErrClosed || s.Close() != ErrClosed {
		t.Fatal("second Close")
	}
	var m tick
	if n, err := s.Poll(func(*tick) {}, 0); n != 0 || err != ErrClosed {
		t.Fatalf("poll after Close: %d %v", n, err)
	}
	if s.TryReceive(&m) || s.Acquire(0) != 0 || s.Ready() || s.Wait(time.Millisecond) || s.Err() != ErrClosed {
		t.Fatal("a closed subscriber received")
	}
	s.Release(1)
	if st := s.Stats(); st.Received != 1 || st.Lag != 2 || s.Lag() != 2 || s.Position() != 1 {
		t.Fatalf("subscriber stats after Close: %+v, lag %d", st, s.Lag())
	}
}
