package main

import (
	"github.com/spinwire/spinwire/link"
	"strconv"
	"sync/atomic"
	"unsafe"
)

// Order is a new-order request as it lies in shared memory. Like every
// message link carries it is a fixed-layout type (link.Listen and link.Dial
// check it with layout.Of): sized integers, no pointers, strings or bools,
// and every byte belongs to a named field. Server and client compare the
// types' layout fingerprints when they connect; a client built with a
// different Order is refused with an error that names the field.
type Order struct {
	ClOrdID  uint64  //  0: the client's id for this order, echoed in the Ack
	Symbol   [8]byte //  8: instrument, ASCII, NUL-padded
	Price    int64   // 16: limit price in units of 0.0001, a multiple of PriceTick; 0 for a market order
	Qty      uint32  // 24: shares, 1…MaxQty
	Side     uint8   // 28: SideBuy or SideSell
	Type     uint8   // 29: TypeLimit or TypeMarket
	Reserved [2]byte // 30: zero; anything else is rejected, so a later version can give these bytes a meaning
}

// Ack is the gateway's answer to one Order.
type Ack struct {
	ClOrdID uint64  //  0: the order's ClOrdID
	OrderID uint64  //  8: the gateway's id for an accepted order; 0 when rejected
	Status  uint8   // 16: StatusAccepted, or why the order was rejected
	_       [7]byte // 17: explicit padding to 24
}

// Fill is an execution of an accepted order, pushed by the gateway to the
// connection that sent the order (link.PushServer.Push) to a client that
// takes them (gateway client -fills, link.DialPush).
type Fill struct {
	ClOrdID uint64  //  0: the order's ClOrdID
	OrderID uint64  //  8: its OrderID
	Price   int64   // 16: the execution price, units of 0.0001
	Qty     uint32  // 24: shares executed
	_       [4]byte // 28: explicit padding to 32
}

// Sizes, checked at compile time below.
const (
	OrderLength = 32
	AckLength   = 24
	FillLength  = 32
)

var (
	_ = [1]struct{}{}[unsafe.Sizeof(Order{})-OrderLength]
	_ = [1]struct{}{}[unsafe.Sizeof(Ack{})-AckLength]
	_ = [1]struct{}{}[unsafe.Sizeof(Fill{})-FillLength]
)

// Field values.
const (
	SideBuy    = 'B'
	SideSell   = 'S'
	TypeLimit  = 'L'
	TypeMarket = 'M'
	PriceTick  = 100            // prices move in steps of 0.01
	MaxPrice   = 1_000_000_0000 // 1 000 000.0000
	MaxQty     = 1_000_000
)

// symbols are the instruments the gateway trades.
var symbols = [...][8]byte{
	{'A', 'C', 'M', 'E'},
	{'G', 'L', 'O', 'B', 'X'},
	{'I', 'N', 'I', 'T', 'E', 'C', 'H'},
	{'U', 'M', 'B', 'R', 'L', 'A'},
}

// Status is Ack.Status.
type Status uint8

const (
	statusNone     Status = iota // never sent: an Ack the handler did not fill
	StatusAccepted               // the order is accepted; Ack.OrderID is its id
	RejectReserved               // Order.Reserved is not zero
	RejectSide                   // Order.Side is neither SideBuy nor SideSell
	RejectType                   // Order.Type is neither TypeLimit nor TypeMarket
	RejectPrice                  // a limit price ≤ 0, over MaxPrice or off the PriceTick grid; a market order with a price
	RejectQty                    // Order.Qty is 0 or over MaxQty
	RejectSymbol                 // Order.Symbol is not one the gateway trades
	numStatus
)

var statusNames = [numStatus]string{
	statusNone:     "none",
	StatusAccepted: "accepted",
	RejectReserved: "reserved",
	RejectSide:     "side",
	RejectType:     "type",
	RejectPrice:    "price",
	RejectQty:      "qty",
	RejectSymbol:   "symbol",
}

func (s Status) String() string {
	if s < numStatus {
		return statusNames[s]
	}
	return "status(" + strconv.Itoa(int(s)) + ")"
}

// validate checks an order field by field and returns StatusAccepted or the
// first reason to reject it. Every value is checked against an explicit
// range: the order comes from another process, which may be buggy or
// hostile, and nothing it sends may make the gateway panic, index out of
// range or accept what it should not.
func validate(o *Order) Status {
	switch {
	case o.Reserved != [2]byte{}:
		return RejectReserved
	case o.Side != SideBuy && o.Side != SideSell:
		return RejectSide
	case o.Qty == 0 || o.Qty > MaxQty:
		return RejectQty
	}
	switch o.Type {
	case TypeLimit:
		if o.Price <= 0 || o.Price > MaxPrice || o.Price%PriceTick != 0 {
			return RejectPrice
		}
	case TypeMarket:
		if o.Price != 0 {
			return RejectPrice
		}
	default:
		return RejectType
	}
	for i := range symbols {
		if o.Symbol == symbols[i] {
			return StatusAccepted
		}
	}
	return RejectSymbol
}

// gateway is the server's state: what the handler touches.
type gateway struct {
	nextID  atomic.Uint64            // last OrderID given out
	counts  [numStatus]atomic.Uint64 // acks sent, by status
	exch    chan forwarded           // -exchange: accepted orders, to the exchange goroutine
	srv     *link.PushServer[Order, Ack, Fill]
	fills   atomic.Uint64 // fills pushed
	dropped atomic.Uint64 // fills not pushed: the client's ring was full, or it had gone
}

// forwarded is an accepted order on its way to the exchange: the deferred
// call, the ack the exchange sends back, and what its fill needs.
type forwarded struct {
	call  link.Deferred
	ack   Ack
	peer  link.Peer // the connection the order came on
	price int64
	qty   uint32
}

// exchangeQueue bounds the orders forwarded and not yet acknowledged; the
// pollers wait when it is full.
const exchangeQueue = 4096

// forward is the -exchange handler: it checks the order as handle does and
// answers a rejected one at once; an accepted one is deferred and handed
// to the exchange goroutine, which acknowledges it later (runExchange).
// No allocation.
func (g *gateway) forward(c *link.Caller, req *Order, resp *Ack) {
	o := *req
	if st := validate(&o); st != StatusAccepted {
		*resp = Ack{ClOrdID: o.ClOrdID, Status: uint8(st)}
		g.counts[st].Add(1)
		return
	}
	g.exch <- forwarded{c.Defer(), Ack{ClOrdID: o.ClOrdID, Status: uint8(StatusAccepted)}, c.Peer(), o.Price, o.Qty}
}

// runExchange is the simulated exchange session: it books each forwarded
// order (an OrderID), acknowledges it from its own goroutine and fills it
// at once. A Reply for a client that has gone meanwhile is refused and
// counted by link.
func (g *gateway) runExchange() {
	for f := range g.exch {
		f.ack.OrderID = g.nextID.Add(1)
		if g.srv.Reply(f.call, &f.ack) == nil {
			g.counts[StatusAccepted].Add(1)
			g.fill(f.peer, &f.ack, f.price, f.qty)
		}
	}
}

// fill pushes the fill of an accepted order to the connection it came
// on, if that connection takes fills; a market order fills at 100.00.
// Push never waits: a client too far behind loses the fill (counted).
func (g *gateway) fill(p link.Peer, a *Ack, price int64, qty uint32) {
	if !p.Pushes() {
		return
	}
	if price == 0 {
		price = 100_0000
	}
	if g.srv.Push(p, &Fill{ClOrdID: a.ClOrdID, OrderID: a.OrderID, Price: price, Qty: qty}) == nil {
		g.fills.Add(1)
	} else {
		g.dropped.Add(1)
	}
}

// handleFill is the handler without -exchange: handle, then the fill of
// an accepted order, pushed before the ack is written.
func (g *gateway) handleFill(c *link.Caller, req *Order, resp *Ack) {
	o := *req
	g.handle(&o, resp)
	if resp.Status == uint8(StatusAccepted) {
		g.fill(c.Peer(), resp, o.Price, o.Qty)
	}
}

// handle is the link handler: req and resp are slots in shared memory, and
// the client may rewrite req while handle runs. So the order is copied out
// once (32 bytes) and only the copy is checked and used; otherwise a check
// could pass on one value and the order be booked with another. It sets
// every field of resp, allocates nothing and makes no system call. With
// several pollers it runs on several threads at once: the id and the
// counters are atomics.
func (g *gateway) handle(req *Order, resp *Ack) {
	o := *req
	st := validate(&o)
	var id uint64
	if st == StatusAccepted {
		id = g.nextID.Add(1)
	}
	*resp = Ack{ClOrdID: o.ClOrdID, OrderID: id, Status: uint8(st)}
	g.counts[st].Add(1)
}

// makeOrder returns the client's i-th order and the status the gateway must
// answer it with. With bad > 0, every bad-th order carries one defect, in
// turn each of the six the gateway checks for.
func makeOrder(i uint64, bad int) (Order, Status) {
	o := Order{
		ClOrdID: i + 1,
		Symbol:  symbols[i%uint64(len(symbols))],
		Price:   100_0000 + int64(i%200)*PriceTick, // 100.00 … 101.99
		Qty:     uint32(100 * (1 + i%50)),
		Side:    SideBuy,
		Type:    TypeLimit,
	}
	if i%2 == 1 {
		o.Side = SideSell
	}
	if i%7 == 3 {
		o.Type, o.Price = TypeMarket, 0
	}
	if bad <= 0 || i%uint64(bad) != uint64(bad-1) {
		return o, StatusAccepted
	}
	switch (i / uint64(bad)) % 6 {
	case 0:
		o.Side = 'X'
		return o, RejectSide
	case 1:
		o.Type = 'S' // stop orders are not supported
		return o, RejectType
	case 2:
		o.Qty = 0
		return o, RejectQty
	case 3:
		o.Type, o.Price = TypeLimit, 100_0050 // 100.005: off the 0.01 grid
		return o, RejectPrice
	case 4:
		o.Symbol = [8]byte{'N', 'O', 'P', 'E'}
		return o, RejectSymbol
	default:
		o.Reserved[1] = 0xff
		return o, RejectReserved
	}
}
