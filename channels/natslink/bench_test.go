package natslink

import (
	"context"
	"fmt"
	"github.com/pcnet/pcnet/cluster/natsconn"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"

	"github.com/pcnet/pcnet/channels"
)

// benchBatch is the batch of the round-trip benchmarks (B in docs/design.md §1).
const benchBatch = 64

// BenchmarkRoundTrip measures one round trip of docs/design.md §3's exchange: a
// batch x width prediction up and the error it causes back down, each
// released (buffers = 1, pcnet's setting), over three carriers:
//
//   - nats: this transport, the two nodes in two connections to an embedded
//     server on loopback (two messages and two credits per op), without
//     authentication (Options.Key nil: a benchmark that says so);
//   - nats-auth: the same with a run key, every frame sealed and opened
//     (AES-GMAC, docs/design.md §9);
//   - inprocess: channels.NewInProcess, the same exchange between goroutines;
//   - request: nats.go's own nc.Request to a responder that answers with a
//     payload of the same size, on the same server: the floor a NATS round
//     trip costs.
//
// One op is one round trip; us/roundtrip is ns/op in microseconds.
func BenchmarkRoundTrip(b *testing.B) {
	for _, width := range []int{64, 256, 1024} {
		size := 8 * benchBatch * width
		b.Run(fmt.Sprintf("width=%d/carrier=nats", width), func(b *testing.B) {
			srv := startServer(b, natsconn.Server{})
			benchLinkRoundTrip(b, newPair(b, dial(b, srv), dial(b, srv), Options{Run: "bench", Buffers: 1}, 0, benchBatch, width), width)
		})
		b.Run(fmt.Sprintf("width=%d/carrier=nats-auth", width), func(b *testing.B) {
			srv := startServer(b, natsconn.Server{})
			benchLinkRoundTrip(b, newPair(b, dial(b, srv), dial(b, srv), Options{Run: "bench", Buffers: 1, Key: testKey(1)}, 0, benchBatch, width), width)
		})
		b.Run(fmt.Sprintf("width=%d/carrier=inprocess", width), func(b *testing.B) {
			benchLinkRoundTrip(b, inProcessPair(b, 1, benchBatch, width), width)
		})
		b.Run(fmt.Sprintf("width=%d/carrier=request", width), func(b *testing.B) {
			srv := startServer(b, natsconn.Server{})
			requester, responder := dial(b, srv), dial(b, srv)
			reply := make([]byte, size)
			sub, err := responder.Subscribe("bench.request", func(m *nats.Msg) { _ = m.Respond(reply) })
			require.NoError(b, err)
			defer func() { require.NoError(b, sub.Unsubscribe()) }()
			require.NoError(b, responder.Flush())
			request := make([]byte, size)
			b.SetBytes(int64(2 * size))
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			for range b.N {
				if _, err := requester.Request("bench.request", request, 10*time.Second); err != nil {
					b.Fatal(err)
				}
			}
			reportRoundTrip(b, start)
		})
	}
}

func reportRoundTrip(b *testing.B, start time.Time) {
	b.StopTimer()
	b.ReportMetric(float64(time.Since(start).Microseconds())/float64(b.N), "us/roundtrip")
}

// benchLinkRoundTrip runs b.N round trips over l: the upper node echoes each
// prediction as an error of the same shape.
func benchLinkRoundTrip(b *testing.B, l pair, width int) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	fill := func(s channels.Sender[float64], k channels.Kind, step int) error {
		buf, err := s.Acquire(ctx, benchBatch, width)
		if err != nil {
			return err
		}
		buf.Data[0] = float64(step)
		return s.Send(ctx, channels.Message[float64]{Kind: k, Step: step, Buf: buf})
	}
	done := make(chan error, 1)
	go func() { // the upper node
		for step := 0; ; step++ {
			m, err := l.hi.UpRecv.Recv(ctx)
			if err != nil {
				done <- err
				return
			}
			l.hi.UpRecv.Release(m)
			if err := fill(l.hi.DownSend, channels.Error, step); err != nil {
				done <- err
				return
			}
		}
	}()
	b.SetBytes(int64(2 * 8 * benchBatch * width))
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for i := range b.N {
		if err := fill(l.lo.UpSend, channels.Prediction, i); err != nil {
			b.Fatal(err)
		}
		m, err := l.lo.DownRecv.Recv(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if m.Step != i {
			b.Fatalf("error of step %d, want %d", m.Step, i)
		}
		l.lo.DownRecv.Release(m)
	}
	reportRoundTrip(b, start)
	cancel()
	<-done
}

// BenchmarkCodec measures the encoding and decoding of one 64 x 1024 value
// (512 KiB) without NATS.
func BenchmarkCodec(b *testing.B) {
	const n = benchBatch * 1024
	v := make([]float64, n)
	buf := make([]byte, 8*n)
	b.Run("put", func(b *testing.B) {
		b.SetBytes(8 * n)
		for range b.N {
			putFloats(buf, v)
		}
	})
	b.Run("get", func(b *testing.B) {
		b.SetBytes(8 * n)
		for range b.N {
			getFloats(v, buf)
		}
	})
}
