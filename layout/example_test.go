package layout_test

import (
	"fmt"

	"github.com/spinwire/spinwire/layout"
)

// Tick is a fixed-layout message: sized integers, explicit padding.
type Tick struct {
	Seq   uint64
	Price int64
	Qty   int32
	Side  uint8
	_     [3]byte
}

func Example() {
	schema, err := layout.Of[Tick]()
	if err != nil {
		panic(err)
	}
	// The creator records the layout's fingerprint in the header ...
	seg, err := layout.Create(4096, layout.Options{Fingerprint: schema.Fingerprint})
	if err != nil {
		panic(err)
	}
	defer seg.Close()
	t, err := layout.At[Tick](seg.Body(), 0)
	if err != nil {
		panic(err)
	}
	t.Price = 101_25
	// ... and a peer that receives seg.Fd() maps it with
	// layout.OpenFd(fd, layout.Options{Fingerprint: schema.Fingerprint}),
	// which refuses a segment laid out for another type.
	fmt.Println(schema.Size, len(schema.Fields), t.Price)
	// Output: 24 5 10125
}

func ExampleSchema_Diff() {
	type V1 struct{ A, B int64 }
	type V2 struct{ A, C int64 }
	type V3 struct{ A, B int32 }
	// The receiver is ours ("here"), the argument the peer's.
	fmt.Println(layout.MustOf[V1]().Diff(layout.MustOf[V2]()))
	fmt.Println(layout.MustOf[V3]().Diff(layout.MustOf[V1]()))
	// Output:
	// layout: layout mismatch: layout_test.V1: field B: int64 at 8 (8 B) here, absent at the peer
	// layout: layout mismatch: layout_test.V3: field A: int32 at 0 (4 B) here, int64 at 0 (8 B) at the peer
}
