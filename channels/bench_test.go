package channels_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/pcnet/pcnet/channels"
)

// BenchmarkHandoff measures one message handed from one goroutine to
// another: Acquire+Send on the sender's goroutine, Recv+Release on the
// receiver's, streaming as fast as the credits allow. One op is one message.
func BenchmarkHandoff(b *testing.B) {
	const rows, cols = 32, 64
	for _, buffers := range []int{1, 2, 4} {
		b.Run(fmt.Sprintf("buffers=%d", buffers), func(b *testing.B) {
			l := newLink(b, buffers, 0, rows, cols)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			b.ReportAllocs()
			var wg sync.WaitGroup
			wg.Add(1)
			b.ResetTimer()
			go func() {
				defer wg.Done()
				for i := range b.N {
					buf, err := l.UpSend.Acquire(ctx, rows, cols)
					if err != nil {
						b.Error(err)
						return
					}
					buf.Data[0] = float64(i)
					if err := l.UpSend.Send(ctx, channels.Message[float64]{Kind: channels.Prediction, Step: i, Buf: buf}); err != nil {
						b.Error(err)
						return
					}
				}
			}()
			for i := range b.N {
				m, err := l.UpRecv.Recv(ctx)
				if err != nil {
					b.Error(err)
					break
				}
				if m.Step != i {
					b.Errorf("step %d, want %d", m.Step, i)
				}
				l.UpRecv.Release(m)
			}
			b.StopTimer()
			cancel() // unblocks the sender if the receiver stopped early
			wg.Wait()
		})
	}
}

// BenchmarkRoundTrip measures one step of docs/design.md §3's exchange between two
// goroutines: a prediction up and the error it causes back down. One op is
// two messages; ns/msg is half of ns/op. Every message answers the previous
// one, as in pcnet's engine, so each is a goroutine hand-off; buffers=1 is
// the engine's setting.
func BenchmarkRoundTrip(b *testing.B) {
	const rows, cols = 32, 64
	for _, buffers := range []int{1, 2} {
		b.Run(fmt.Sprintf("buffers=%d", buffers), func(b *testing.B) {
			benchRoundTrip(b, buffers, rows, cols)
		})
	}
}

func benchRoundTrip(b *testing.B, buffers, rows, cols int) {
	l := newLink(b, buffers, 0, rows, cols)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	b.ReportAllocs()
	var wg sync.WaitGroup
	wg.Add(1)
	b.ResetTimer()
	start := time.Now()
	go func() { // upper node: echo each prediction as an error
		defer wg.Done()
		for range b.N {
			m, err := l.UpRecv.Recv(ctx)
			if err != nil {
				return
			}
			step := m.Step
			l.UpRecv.Release(m)
			if err := send(ctx, l.DownSend, channels.Error, step, rows, cols, func([]float64) {}); err != nil {
				return
			}
		}
	}()
	for i := range b.N {
		if err := send(ctx, l.UpSend, channels.Prediction, i, rows, cols, func([]float64) {}); err != nil {
			b.Error(err)
			break
		}
		m, err := l.DownRecv.Recv(ctx)
		if err != nil {
			b.Error(err)
			break
		}
		l.DownRecv.Release(m)
	}
	b.StopTimer()
	b.ReportMetric(float64(time.Since(start).Nanoseconds())/float64(2*b.N), "ns/msg")
	cancel()
	wg.Wait()
}

// BenchmarkCycle is Acquire+Send+Recv+Release on one goroutine: the cost of
// the bookkeeping alone, without goroutine hand-off.
func BenchmarkCycle(b *testing.B) {
	l := newLink(b, 2, 0, 32, 64)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	b.ReportAllocs()
	for i := range b.N {
		buf, err := l.UpSend.Acquire(ctx, 32, 64)
		if err != nil {
			b.Fatal(err)
		}
		if err := l.UpSend.Send(ctx, channels.Message[float64]{Kind: channels.Prediction, Step: i, Buf: buf}); err != nil {
			b.Fatal(err)
		}
		m, err := l.UpRecv.Recv(ctx)
		if err != nil {
			b.Fatal(err)
		}
		l.UpRecv.Release(m)
	}
}
