package topic_test

import (
	"fmt"
	"os"

	"github.com/spinwire/spinwire/topic"
)

// Quote is fixed-layout: the publisher and every subscriber compare its
// fingerprint when they meet.
type Quote struct {
	Symbol   [8]byte
	Bid, Ask int64
}

// A lossy topic, its publisher and one subscriber; here in one process,
// as they would be in two. The subscriber starts at the newest message:
// it sees what is published after it joined.
func Example() {
	dir, _ := os.MkdirTemp("", "topic-example")
	defer os.RemoveAll(dir)

	pub, err := topic.Create[Quote]("quotes", topic.Options{Dir: dir})
	if err != nil {
		panic(err)
	}
	defer pub.Close()
	sub, err := topic.Subscribe[Quote]("quotes", topic.SubscribeOptions{Dir: dir})
	if err != nil {
		panic(err)
	}
	defer sub.Close()

	for i := range int64(3) {
		q := Quote{Bid: 10_000 + i, Ask: 10_002 + i}
		copy(q.Symbol[:], "ACME")
		pub.Publish(&q)
	}
	n, err := sub.Poll(func(q *Quote) { // q is the subscriber's own copy
		fmt.Printf("%s %d/%d\n", q.Symbol[:4], q.Bid, q.Ask)
	}, 0)
	fmt.Println(n, err, sub.Lost())
	// Output:
	// ACME 10000/10002
	// ACME 10001/10003
	// ACME 10002/10004
	// 3 <nil> 0
}

// A lossy publisher never waits: a subscriber that falls a whole ring
// behind is lapped, counts what it missed in Lost, and goes on from a
// message the ring still holds.
func Example_lapped() {
	dir, _ := os.MkdirTemp("", "topic-example")
	defer os.RemoveAll(dir)

	pub, err := topic.Create[Quote]("quotes", topic.Options{Dir: dir, Capacity: 16})
	if err != nil {
		panic(err)
	}
	defer pub.Close()
	sub, err := topic.Subscribe[Quote]("quotes", topic.SubscribeOptions{Dir: dir})
	if err != nil {
		panic(err)
	}
	defer sub.Close()

	for i := range int64(100) {
		pub.TryPublish(&Quote{Bid: i})
	}
	var got int
	for {
		n, err := sub.Poll(func(*Quote) { got++ }, 0)
		if n == 0 || err != nil {
			break
		}
	}
	fmt.Println(got+int(sub.Lost()), "published,", sub.Lost() > 0, "lapped")
	// Output: 100 published, true lapped
}

// A reliable topic keeps History messages for whoever joins late, and its
// publisher waits for the slowest subscriber: TryPublish says false when
// the ring is full of messages someone has not read.
func Example_reliable() {
	dir, _ := os.MkdirTemp("", "topic-example")
	defer os.RemoveAll(dir)

	pub, err := topic.Create[Quote]("quotes", topic.Options{
		Dir: dir, Policy: topic.Reliable, Capacity: 4, History: 2,
	})
	if err != nil {
		panic(err)
	}
	defer pub.Close()
	for i := range int64(5) { // nobody subscribes yet: nothing to wait for
		pub.Publish(&Quote{Bid: i})
	}

	late, err := topic.Subscribe[Quote]("quotes", topic.SubscribeOptions{Dir: dir})
	if err != nil {
		panic(err)
	}
	defer late.Close()
	// late starts at 3 (5 published, less History 2): a ring of 4 is full
	// once 7 are.
	full := 0
	for i := int64(5); pub.TryPublish(&Quote{Bid: i}); i++ {
		full++
	}
	var bids []int64
	late.Poll(func(q *Quote) { bids = append(bids, q.Bid) }, 0)
	fmt.Println("published until full:", full, "read:", bids)
	// Output: published until full: 2 read: [3 4 5 6]
}

// Acquire reads a run of messages with one call per run, in place on a
// reliable topic: At points into the publisher's read-only memory until
// the next Acquire gives the run back.
func ExampleSubscriber_Acquire() {
	dir, _ := os.MkdirTemp("", "topic-example")
	defer os.RemoveAll(dir)

	pub, err := topic.Create[Quote]("quotes", topic.Options{Dir: dir, Policy: topic.Reliable})
	if err != nil {
		panic(err)
	}
	defer pub.Close()
	sub, err := topic.Subscribe[Quote]("quotes", topic.SubscribeOptions{Dir: dir})
	if err != nil {
		panic(err)
	}
	defer sub.Close()
	for i := range int64(10) {
		pub.Publish(&Quote{Bid: i})
	}

	var sum int64
	for n := sub.Acquire(4); n > 0; n = sub.Acquire(4) {
		for i := range n {
			sum += sub.At(i).Bid
		}
	}
	fmt.Println(sum, sub.Err(), sub.Lag())
	// Output: 45 <nil> 0
}

// A records topic carries variable-length records, each with a type.
func ExampleCreateRecords() {
	dir, _ := os.MkdirTemp("", "topic-example")
	defer os.RemoveAll(dir)

	pub, err := topic.CreateRecords("log", 256, topic.Options{Dir: dir})
	if err != nil {
		panic(err)
	}
	defer pub.Close()
	sub, err := topic.SubscribeRecords("log", topic.SubscribeOptions{Dir: dir})
	if err != nil {
		panic(err)
	}
	defer sub.Close()

	pub.Publish(1, []byte("started"))
	pub.Publish(2, []byte("order 42 filled"))
	sub.Poll(func(typ uint32, b []byte) { fmt.Printf("%d %q\n", typ, b) }, 0)
	fmt.Println(pub.Publish(1, make([]byte, 300)) != nil) // longer than the maximum
	// Output:
	// 1 "started"
	// 2 "order 42 filled"
	// true
}
