package natslink_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"github.com/pcnet/pcnet/cluster/natsconn"
	"time"

	"github.com/pcnet/pcnet/channels"
	"github.com/pcnet/pcnet/channels/natslink"
)

// Two processes of run "ex" (here two connections in one program) share
// link 0-1 through an embedded server: the first hosts node 0, the second
// node 1. Each holds only its own ends, and both the run's key, which
// authenticates every frame (a 40-byte trailer on the wire).
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	srv, err := natsconn.Server{}.Start(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Shutdown()
	key := make([]byte, natslink.KeySize) // the run's secret: never on a command line
	_, _ = rand.Read(key)

	link := func(lo, hi int) (*channels.Link[float64], func()) {
		nc, err := natsconn.DialEmbedded(ctx, srv, fmt.Sprintf("nodes %d-%d", lo, hi))
		if err != nil {
			panic(err)
		}
		tr, err := natslink.New[float64](nc, natslink.Options{Run: "ex", Lo: lo, Hi: hi, Buffers: 1, Key: key})
		if err != nil {
			panic(err)
		}
		l, err := tr.Link(0, 2, 3, 2, 3)
		if err != nil {
			panic(err)
		}
		return l, func() { _ = tr.Close(); nc.Close() }
	}
	lower, closeLower := link(0, 0)
	defer closeLower()
	upper, closeUpper := link(1, 1)
	defer closeUpper()
	fmt.Println("node 0 holds up sender, down receiver:", lower.UpSend != nil, lower.DownRecv != nil, lower.UpRecv == nil, lower.DownSend == nil)

	b, _ := lower.UpSend.Acquire(ctx, 2, 3)
	copy(b.Value(), []float64{1, 2, 3, 4, 5, 6})
	_ = lower.UpSend.Send(ctx, channels.Message[float64]{Kind: channels.Prediction, Step: 0, Buf: b})

	m, err := upper.UpRecv.Recv(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(m.Kind, m.Step, m.Buf.Rows, m.Buf.Cols, m.Buf.Value())
	upper.UpRecv.Release(m)
	fmt.Printf("node 0 sent %+v, node 1 received %+v\n", lower.Stats(channels.Up), upper.Stats(channels.Up))
	// Output:
	// node 0 holds up sender, down receiver: true true true true
	// prediction 0 2 3 [1 2 3 4 5 6]
	// node 0 sent {Messages:1 Bytes:48 WireBytes:160}, node 1 received {Messages:1 Bytes:48 WireBytes:160}
}
