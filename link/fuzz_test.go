package link

import (
	"encoding/binary"
	"errors"
	"sync/atomic"
	"testing"
	"unsafe"

	"github.com/spinwire/spinwire/layout"
)

// FuzzHello: the server decodes a hello from arbitrary bytes without
// panicking, and anything it accepts has bounded schema texts.
func FuzzHello(f *testing.F) {
	h := hello{version: wireVersion, reqSize: 32, respSize: 16, reqSchema: []byte("x"), respSchem: []byte("yz")}
	f.Add(h.encode())
	h.flags, h.pushSize, h.pushFP, h.pushSchema = helloPush, 32, 9, []byte("p")
	f.Add(h.encode())
	f.Add([]byte("SPWHELLO"))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := decodeHello(b)
		if err == nil && (len(h.reqSchema) > maxSchemaText || len(h.respSchem) > maxSchemaText || len(h.pushSchema) > maxSchemaText) {
			t.Fatal("oversized schema accepted")
		}
	})
}

// FuzzWelcome: the client checks a welcome and an arena header made of
// arbitrary bytes: it refuses, or the rings it would use lie inside the
// arena.
func FuzzWelcome(f *testing.F) {
	g := geometry(8, 4, unsafe.Sizeof(req{}), unsafe.Sizeof(resp{}))
	w := &welcome{status: statusOK, index: 3, depth: 4, stride: uint32(g.stride),
		slotOff: uint64(g.slotOff(3, 0)), step: uint64(g.step), bellOff: uint64(g.bellOff), arenaLen: uint64(g.length)}
	hdr := make([]byte, arenaHeaderLength)
	binary.LittleEndian.PutUint64(hdr, arenaMagic)
	binary.LittleEndian.PutUint32(hdr[arenaVersionOffset:], arenaVersion)
	binary.LittleEndian.PutUint32(hdr[arenaMaxConnsOffset:], 8)
	binary.LittleEndian.PutUint64(hdr[arenaSlotsOffOffset:], uint64(g.slotsOff))
	f.Add(w.encode(), hdr, uint16(g.length))
	theirs, _ := layout.Of[reqV2]()
	m := &welcome{status: statusMismatch, mismatch: mismatchReq, schemaFP: theirs.Fingerprint, message: string(theirs.Encode())}
	f.Add(m.encode(), hdr, uint16(g.length))
	gp := g.withPush(2, pushStride(unsafe.Sizeof(fill{})))
	wp := *w
	wp.pushOff, wp.pushDepth, wp.pushStride, wp.arenaLen = uint64(gp.pushRingOff(3)), 2, uint32(gp.pushStride), uint64(gp.length)
	f.Add(wp.encode(), hdr, uint16(gp.length))
	ours, _ := layout.Of[req]()
	f.Fuzz(func(t *testing.T, wb, hb []byte, length uint16) {
		w, err := decodeWelcome(wb)
		if err != nil {
			return
		}
		// A refusal's schema text is the server's, as hostile as the rest.
		if e := mismatchWith(whatRequest, ours, w.schemaFP, []byte(w.message)); e != nil && e.What != "link request link.req" {
			t.Fatalf("mismatch names %q", e.What)
		}
		buf := make([]uint64, (int(length)+7)/8+1)
		body := unsafe.Slice((*byte)(unsafe.Pointer(&buf[0])), int(length))
		copy(body, hb)
		// A push client's view of the same welcome: its ring, if any,
		// lies inside the arena too.
		if g, err := checkGeometry(w, body, unsafe.Sizeof(req{}), unsafe.Sizeof(resp{}), unsafe.Sizeof(fill{})); err == nil {
			if end := g.pushRingOff(int(w.index)) + g.pushBytes; end > len(body) || g.pushDepth == 0 {
				t.Fatalf("accepted a push ring outside the arena: %+v index %d", g, w.index)
			}
			r := pushRingAt(body, g, int(w.index))
			*r.pos, *r.seq(uint64(g.pushDepth - 1)) = 1, 1
		}
		g, err := checkGeometry(w, body, unsafe.Sizeof(req{}), unsafe.Sizeof(resp{}), 0)
		if err != nil {
			return
		}
		if end := g.slotOff(int(w.index), g.depth-1) + g.stride; end > len(body) || g.bellOff+8*((g.maxConns+63)/64) > len(body) {
			t.Fatalf("accepted a slot or bell outside the arena: %+v index %d", g, w.index)
		}
		r := connRing(body, &g, int(w.index))
		for p := range uint64(8) {
			r.free(p)
			r.request(p)
			r.response(p)
		}
	})
}

// FuzzServeConn fills a connection's slots with arbitrary bytes and lets the
// server's poller loop over them: it answers, or drops the connection, and
// never writes outside the connection's slots.
func FuzzServeConn(f *testing.F) {
	f.Add(make([]byte, 512), uint64(0))
	// A call ready at position 0 and a one-way request at position 1, as a
	// correct client leaves them (stored sequence words are seq − 2i).
	seeds := make([]byte, 256)
	binary.LittleEndian.PutUint64(seeds[64-16:], 7)         // id of the call
	binary.LittleEndian.PutUint64(seeds[64-8:], 1)          // 2·0+1 − 0
	binary.LittleEndian.PutUint64(seeds[128-16:], 8|oneWay) // a one-way id
	binary.LittleEndian.PutUint64(seeds[128-8:], 2*1+1-2*1) // 2·1+1 − 2
	f.Add(seeds, uint64(0))
	// A client that jumped from position 1 to 4 (the first slot), quiet.
	jumped := make([]byte, 256)
	binary.LittleEndian.PutUint64(jumped[64-16:], 5|quietFlag)
	binary.LittleEndian.PutUint64(jumped[64-8:], 2*4+1)
	f.Add(jumped, uint64(1))
	f.Fuzz(func(t *testing.T, slots []byte, pos uint64) {
		g := geometry(2, 4, unsafe.Sizeof(req{}), unsafe.Sizeof(resp{}))
		buf := make([]uint64, g.length/8+8)
		body := unsafe.Slice((*byte)(unsafe.Pointer(&buf[0])), g.length)
		d := &domain{a: &arena{g: g, body: body}}
		// buf is zero: every ring in its initial state.
		c := &sconn{fd: -1, d: d, index: 1, pos: pos}
		mine := func(i int) bool { // in one of connection 1's slots
			return i >= g.slotsOff && (i-g.slotsOff)%g.step/g.stride == 1
		}
		for k := range g.depth {
			off := g.slotOff(1, k)
			copy(body[off:off+g.stride], slots[min(len(slots), k*g.stride):])
		}
		c.state.Store(connActive)
		before := append([]byte(nil), body...)
		s := &Server[req, resp]{handler: add}
		var sc scratch[req, resp]
		for range 3 {
			s.serveConn(c, &sc)
		}
		for i := range before {
			if i >= g.bellOff && i < g.bellOff+8 || mine(i) {
				continue // the doorbell word may be rung again; the slots are the connection's
			}
			if body[i] != before[i] {
				t.Fatalf("byte %d outside the connection's slots changed", i)
			}
		}
	})
}

// TestConnRecordSize pins the server's per-connection heap record: the
// memory budget counts on it (see sconn).
func TestConnRecordSize(t *testing.T) {
	if n := unsafe.Sizeof(sconn{}); n != 64 {
		t.Fatalf("sconn is %d bytes, want 64", n)
	}
}

// countRecorder counts the samples it is given.
type countRecorder struct{ n int }

func (c *countRecorder) Record(int64) { c.n++ }

// TestServeLatency: with Options.Latency the poller times one request in
// LatencyEvery, and serving allocates nothing either way.
func TestServeLatency(t *testing.T) {
	for _, rec := range []*countRecorder{nil, {}} {
		g := geometry(2, 4, unsafe.Sizeof(req{}), unsafe.Sizeof(resp{}))
		buf := make([]uint64, g.length/8+8)
		body := unsafe.Slice((*byte)(unsafe.Pointer(&buf[0])), g.length)
		c := &sconn{fd: -1, d: &domain{a: &arena{g: g, body: body}}}
		c.state.Store(connActive)
		s := &Server[req, resp]{handler: add}
		if rec != nil {
			s.opts.Latency = rec
		}
		var sc scratch[req, resp]
		r := connRing(body, &g, 0)
		p := uint64(0)
		call := func() {
			*(*req)(r.slot(p)) = req{A: 1, B: 2}
			atomic.StoreUint64(r.id(p), p+1)
			r.storeSeq(p, 2*p+1)
			if s.serveConn(c, &sc) != 1 || (*resp)(r.slot(p)).Sum != 3 {
				t.Fatalf("call %d not answered", p)
			}
			r.storeSeq(p, 2*(p+r.depth))
			p++
		}
		if a := testing.AllocsPerRun(4*LatencyEvery-1, call); a != 0 {
			t.Fatalf("%v allocations per request", a)
		}
		if rec != nil && rec.n != 4 {
			t.Fatalf("%d samples of %d requests", rec.n, p)
		}
	}
}

// TestWelcomeGeometryRefuses: a welcome is accepted only when it
// describes the arena the server computes for the client's types; each
// field a hostile server can get wrong is refused with ErrProtocol before
// anything is mapped.
func TestWelcomeGeometryRefuses(t *testing.T) {
	rq, rs, ps := unsafe.Sizeof(req{}), unsafe.Sizeof(resp{}), unsafe.Sizeof(fill{})
	g := geometry(4, 8, rq, rs).withPush(16, pushStride(ps))
	good := welcome{index: 1, depth: 8, stride: uint32(g.stride), slotOff: uint64(g.slotOff(1, 0)), step: uint64(g.step),
		bellOff: uint64(g.bellOff), arenaLen: uint64(g.length), pushDepth: 16, pushStride: uint32(g.pushStride),
		pushOff: uint64(g.pushRingOff(1))}
	if _, err := welcomeGeometry(&good, rq, rs, ps); err != nil {
		t.Fatalf("the server's own welcome: %v", err)
	}
	plain := good // for a client without a push type: no ring offset
	plain.pushOff = 0
	if _, err := welcomeGeometry(&plain, rq, rs, 0); err != nil {
		t.Fatalf("the server's welcome to a client without pushes: %v", err)
	}
	np := geometry(4, 8, rq, rs) // a server without a push type
	none := welcome{index: 1, depth: 8, stride: uint32(np.stride), slotOff: uint64(np.slotOff(1, 0)), step: uint64(np.step),
		bellOff: uint64(np.bellOff), arenaLen: uint64(np.length)}
	if _, err := welcomeGeometry(&none, rq, rs, 0); err != nil {
		t.Fatalf("a server without pushes: %v", err)
	}
	for name, c := range map[string]struct {
		edit     func(w *welcome)
		pushSize uintptr
	}{
		"stride":                  {func(w *welcome) { w.stride += 64 }, ps},
		"step not a stride":       {func(w *welcome) { w.step++ }, ps},
		"step 0":                  {func(w *welcome) { w.step = 0 }, ps},
		"step past the limit":     {func(w *welcome) { w.step = uint64(w.stride) * (MaxConnsLimit + 1) }, ps},
		"depth 1":                 {func(w *welcome) { w.depth = 1 }, ps},
		"depth 12":                {func(w *welcome) { w.depth = 12 }, ps},
		"depth past the limit":    {func(w *welcome) { w.depth = 2 * MaxDepth }, ps},
		"bells":                   {func(w *welcome) { w.bellOff += 8 }, ps},
		"length":                  {func(w *welcome) { w.arenaLen += 4096 }, ps},
		"index":                   {func(w *welcome) { w.index = 4 }, ps},
		"slot":                    {func(w *welcome) { w.slotOff += 64 }, ps},
		"push ring":               {func(w *welcome) { w.pushOff += 64 }, ps},
		"push depth 1":            {func(w *welcome) { w.pushDepth = 1 }, ps},
		"push depth 24":           {func(w *welcome) { w.pushDepth = 24 }, ps},
		"push depth past limit":   {func(w *welcome) { w.pushDepth = 2 * MaxPushDepth }, ps},
		"push stride":             {func(w *welcome) { w.pushStride += 64 }, ps},
		"no push region":          {func(w *welcome) { w.pushDepth, w.pushStride, w.pushOff = 0, 0, 0 }, ps},
		"region without depth":    {func(w *welcome) { w.pushDepth = 0 }, 0},
		"push stride unaligned":   {func(w *welcome) { w.pushStride++; w.pushOff = 0 }, 0},
		"push stride too large":   {func(w *welcome) { w.pushStride = maxPushStride + 64; w.pushOff = 0 }, 0},
		"ring for a plain client": {func(w *welcome) {}, 0},
	} {
		w := good
		c.edit(&w)
		if _, err := welcomeGeometry(&w, rq, rs, c.pushSize); !errors.Is(err, ErrProtocol) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// TestDecodeRefuses: a hello or a welcome whose framing no correct peer
// writes is refused with ErrProtocol: short, wrong magic or version,
// schema or message lengths that overrun or exceed their bound, unknown
// flags, push fields without the push flag.
func TestDecodeRefuses(t *testing.T) {
	le := binary.LittleEndian
	h := hello{version: wireVersion, reqSize: 32, respSize: 16, reqSchema: []byte("x"), respSchem: []byte("yz")}
	good := h.encode()
	if _, err := decodeHello(good); err != nil {
		t.Fatalf("a good hello: %v", err)
	}
	edits := map[string]func(b []byte) []byte{
		"short":               func(b []byte) []byte { return b[:helloFixedLength-1] },
		"magic":               func(b []byte) []byte { b[0]++; return b },
		"schema overruns":     func(b []byte) []byte { le.PutUint32(b[helloReqSchemaLenOffset:], 2); return b },
		"schema too long":     func(b []byte) []byte { le.PutUint32(b[helloReqSchemaLenOffset:], maxSchemaText+1); return b },
		"trailing bytes":      func(b []byte) []byte { return append(b, 0) },
		"unknown flag":        func(b []byte) []byte { le.PutUint32(b[helloFlagsOffset:], 2); return b },
		"push size, no flag":  func(b []byte) []byte { le.PutUint32(b[helloPushSizeOffset:], 8); return b },
		"push print, no flag": func(b []byte) []byte { le.PutUint64(b[helloPushFPOffset:], 1); return b },
	}
	for name, edit := range edits {
		if _, err := decodeHello(edit(append([]byte(nil), good...))); !errors.Is(err, ErrProtocol) {
			t.Errorf("hello, %s: %v", name, err)
		}
	}
	w := welcome{status: statusOK, depth: 8, message: "hi"}
	gw := w.encode()
	if d, err := decodeWelcome(gw); err != nil || d.message != "hi" {
		t.Fatalf("a good welcome: %v %+v", err, d)
	}
	for name, edit := range map[string]func(b []byte) []byte{
		"short":            func(b []byte) []byte { return b[:welcomeFixedLength-1] },
		"magic":            func(b []byte) []byte { b[0]++; return b },
		"version":          func(b []byte) []byte { le.PutUint32(b[welcomeVersionOffset:], wireVersion+1); return b },
		"message overruns": func(b []byte) []byte { le.PutUint32(b[welcomeMessageLenOffset:], 3); return b },
		"message too long": func(b []byte) []byte { le.PutUint32(b[welcomeMessageLenOffset:], maxMessage+1); return b },
		"trailing bytes":   func(b []byte) []byte { return append(b, 0) },
	} {
		if _, err := decodeWelcome(edit(append([]byte(nil), gw...))); !errors.Is(err, ErrProtocol) {
			t.Errorf("welcome, %s: %v", name, err)
		}
	}
}
