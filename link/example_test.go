package link_test

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spinwire/spinwire/link"
)

// Order and Ack are fixed-layout: the server and every client compare
// their fingerprints when they connect.
type Order struct {
	ID    uint64
	Price int64
	Qty   int32
	Side  uint8
	_     [3]byte
}

type Ack struct {
	ID     uint64
	Status uint32
	_      [4]byte
}

func Example() {
	dir, _ := os.MkdirTemp("", "link-example")
	defer os.RemoveAll(dir)

	srv, err := link.Listen[Order, Ack]("orders", link.Options{Dir: dir})
	if err != nil {
		panic(err)
	}
	defer srv.Close()
	go srv.Serve(func(o *Order, a *Ack) {
		// o is another process's memory: validate every field you use.
		a.ID, a.Status = o.ID, 0
		if o.Qty <= 0 || o.Side > 1 {
			a.Status = 1
		}
	})

	conn, err := link.Dial[Order, Ack]("orders", link.DialOptions{Dir: dir})
	if err != nil {
		panic(err)
	}
	defer conn.Close()
	var ack Ack
	err = conn.Call(time.Now().Add(time.Second), &Order{ID: 42, Price: 10125, Qty: 5}, &ack)
	fmt.Println(err, ack.ID, ack.Status)
	// Output: <nil> 42 0
}

// A handler that cannot answer at once defers the call and replies later,
// from any goroutine; its poller goes on serving other calls meanwhile.
func ExampleCaller_Defer() {
	dir, _ := os.MkdirTemp("", "link-example")
	defer os.RemoveAll(dir)

	srv, err := link.Listen[Order, Ack]("orders", link.Options{Dir: dir})
	if err != nil {
		panic(err)
	}
	defer srv.Close()
	later := make(chan link.Deferred, 1)
	go srv.ServeCaller(func(c *link.Caller, o *Order, a *Ack) {
		later <- c.Defer() // no response is written when the handler returns
	})
	replied := make(chan error, 2)
	go func() {
		d := <-later
		replied <- srv.Reply(d, &Ack{ID: 7, Status: 2})
		replied <- srv.Reply(d, &Ack{}) // once only: ErrReplied
	}()

	conn, err := link.Dial[Order, Ack]("orders", link.DialOptions{Dir: dir})
	if err != nil {
		panic(err)
	}
	defer conn.Close()
	var ack Ack
	err = conn.Call(time.Now().Add(time.Second), &Order{ID: 7, Qty: 1}, &ack)
	fmt.Println(err, ack.ID, ack.Status)
	fmt.Println(<-replied, errors.Is(<-replied, link.ErrReplied))
	// Output:
	// <nil> 7 2
	// <nil> true
}

// Fill is what the server pushes to a client without being asked.
type Fill struct {
	OrderID uint64
	Qty     int32
	_       [4]byte
}

// A server that pushes: each client that dials with DialPush gets a ring
// of pushes, filled by the server's Push to the Peer a request came from.
func ExampleListenPush() {
	dir, _ := os.MkdirTemp("", "link-example")
	defer os.RemoveAll(dir)

	srv, err := link.ListenPush[Order, Ack, Fill]("orders", link.Options{Dir: dir})
	if err != nil {
		panic(err)
	}
	defer srv.Close()
	go srv.ServeCaller(func(c *link.Caller, o *Order, a *Ack) {
		a.ID, a.Status = o.ID, 0
		// Fills come later, as the order trades: here at once, two halves.
		for range 2 {
			srv.Push(c.Peer(), &Fill{OrderID: o.ID, Qty: o.Qty / 2})
		}
	})

	conn, err := link.DialPush[Order, Ack, Fill]("orders", link.DialOptions{Dir: dir})
	if err != nil {
		panic(err)
	}
	defer conn.Close()
	var ack Ack
	if err := conn.Call(time.Now().Add(time.Second), &Order{ID: 9, Qty: 10}, &ack); err != nil {
		panic(err)
	}
	var f Fill
	for range 2 {
		err := conn.Recv(time.Now().Add(time.Second), &f)
		fmt.Println(err, f.OrderID, f.Qty)
	}
	// Output:
	// <nil> 9 5
	// <nil> 9 5
}

// Pipelined calls: Send publishes requests without waiting (up to the
// server's Options.Depth in flight, 4 by default), Poll takes the
// responses as they come, in order, by correlation id.
func ExampleConn_Send() {
	dir, _ := os.MkdirTemp("", "link-example")
	defer os.RemoveAll(dir)

	srv, err := link.Listen[Order, Ack]("orders", link.Options{Dir: dir})
	if err != nil {
		panic(err)
	}
	defer srv.Close()
	go srv.Serve(func(o *Order, a *Ack) { a.ID, a.Status = o.ID, 0 })

	conn, err := link.Dial[Order, Ack]("orders", link.DialOptions{Dir: dir})
	if err != nil {
		panic(err)
	}
	defer conn.Close()
	ids := map[uint64]uint64{} // correlation id → order id
	for order := uint64(1); order <= 3; order++ {
		id, err := conn.Send(&Order{ID: order, Qty: 1})
		if err != nil {
			panic(err)
		}
		ids[id] = order
	}
	for got, deadline := 0, time.Now().Add(time.Second); got < 3 && time.Now().Before(deadline); {
		n, err := conn.Poll(0, func(id uint64, a *Ack) {
			fmt.Println(ids[id] == a.ID, a.ID)
		})
		if err != nil {
			panic(err)
		}
		got += n
	}
	// Output:
	// true 1
	// true 2
	// true 3
}

// A Pool shares a few Conns among many goroutines, each call taking a
// free one.
func ExamplePool() {
	dir, _ := os.MkdirTemp("", "link-example")
	defer os.RemoveAll(dir)

	srv, err := link.Listen[Order, Ack]("orders", link.Options{Dir: dir})
	if err != nil {
		panic(err)
	}
	defer srv.Close()
	go srv.Serve(func(o *Order, a *Ack) { a.ID, a.Status = o.ID, 0 })

	pool, err := link.DialPool[Order, Ack]("orders", 2, link.DialOptions{Dir: dir})
	if err != nil {
		panic(err)
	}
	defer pool.Close()
	var wg sync.WaitGroup
	var sum atomic.Uint64
	for g := range uint64(8) {
		wg.Go(func() {
			var ack Ack
			if err := pool.Call(time.Now().Add(time.Second), &Order{ID: g, Qty: 1}, &ack); err == nil {
				sum.Add(ack.ID)
			}
		})
	}
	wg.Wait()
	fmt.Println(pool.Len(), sum.Load())
	// Output: 2 28
}
