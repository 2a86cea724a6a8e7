package channels_test

import (
	"context"
	"fmt"

	"github.com/pcnet/pcnet/channels"
)

// One step of the exchange between node 0 and node 1: a prediction up, an
// error down, each buffer released back to its sender's pool.
func Example() {
	ctx := context.Background()
	link, err := channels.NewInProcess[float64](0).Link(0, 2, 3, 2, 3)
	if err != nil {
		fmt.Println(err)
		return
	}

	// Node 0 sends its prediction of node 1 for step 0.
	b, _ := link.UpSend.Acquire(ctx, 2, 3)
	copy(b.Value(), []float64{1, 2, 3, 4, 5, 6})
	_ = link.UpSend.Send(ctx, channels.Message[float64]{Kind: channels.Prediction, Step: 0, Buf: b})

	// Node 1 reads it, answers with its error, and frees the buffer.
	m, _ := link.UpRecv.Recv(ctx)
	fmt.Println(m.Kind, m.Step, m.Buf.Rows, m.Buf.Cols, m.Buf.Value())
	e, _ := link.DownSend.Acquire(ctx, 2, 3)
	for i, p := range m.Buf.Value() {
		e.Value()[i] = 0.5 - p/10
	}
	link.UpRecv.Release(m)
	_ = link.DownSend.Send(ctx, channels.Message[float64]{Kind: channels.Error, Step: 0, Buf: e})

	// Node 0 reads the error.
	m, _ = link.DownRecv.Recv(ctx)
	fmt.Println(m.Kind, m.Step, m.Buf.Value())
	link.DownRecv.Release(m)

	fmt.Printf("up %+v, down %+v\n", link.Stats(channels.Up), link.Stats(channels.Down))
	// Output:
	// prediction 0 2 3 [1 2 3 4 5 6]
	// error 0 [0.4 0.3 0.2 0.09999999999999998 0 -0.09999999999999998]
	// up {Messages:1 Bytes:48 WireBytes:0}, down {Messages:1 Bytes:48 WireBytes:0}
}
