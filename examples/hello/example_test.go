package hello_test

import (
	"fmt"
	"os"
	"time"

	"github.com/spinwire/spinwire/link"
)

func Example() {
	type Order struct { // fixed layout: sized integers, explicit padding, no pointers
		ID  uint64
		Qty int32
		_   [4]byte
	}
	type Ack struct{ ID, Status uint64 }

	dir, _ := os.MkdirTemp("", "hello") // the socket's folder; link.Dir() when empty
	defer os.RemoveAll(dir)
	srv, err := link.Listen[Order, Ack]("orders", link.Options{Dir: dir})
	if err != nil {
		panic(err)
	}
	defer srv.Close()
	go srv.Serve(func(o *Order, a *Ack) { // runs on the server's spinning poller
		a.ID, a.Status = o.ID, 0 // o is a private copy of the client's request: check it
		if o.Qty <= 0 {
			a.Status = 1
		}
	})

	conn, err := link.Dial[Order, Ack]("orders", link.DialOptions{Dir: dir})
	if err != nil {
		panic(err)
	}
	defer conn.Close()
	var ack Ack
	err = conn.Call(time.Now().Add(time.Second), &Order{ID: 42, Qty: 5}, &ack)
	fmt.Println(err, ack.ID, ack.Status)
	// Output: <nil> 42 0
}
