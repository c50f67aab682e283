package link_test

import (
	"fmt"
	"os"
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
