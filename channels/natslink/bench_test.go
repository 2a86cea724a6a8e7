package natslink

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"

	"github.com/pcnet/pcnet/channels"
	"github.com/pcnet/pcnet/cluster/natsconn"
	"github.com/pcnet/pcnet/internal/pairbench"
	"github.com/pcnet/pcnet/tensor"
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
	roundTrip, stop := linkRoundTrips(l.lo, l.hi, width)
	b.SetBytes(int64(2 * 8 * benchBatch * width))
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		if err := roundTrip(); err != nil {
			b.Fatal(err)
		}
	}
	reportRoundTrip(b, start)
	if err := stop(); err != nil {
		b.Fatal(err)
	}
}

// linkRoundTrips starts the upper node of a link (hi its ends, lo the lower node's),
// which echoes each prediction as an error of the same shape, and returns one round
// trip over the link and the function that stops the upper node (its error, nil when it
// stopped only because it was told to).
func linkRoundTrips[T tensor.Float](lo, hi *channels.Link[T], width int) (roundTrip func() error, stop func() error) {
	ctx, cancel := context.WithCancel(context.Background())
	fill := func(s channels.Sender[T], k channels.Kind, step int) error {
		buf, err := s.Acquire(ctx, benchBatch, width)
		if err != nil {
			return err
		}
		buf.Data[0] = T(step)
		return s.Send(ctx, channels.Message[T]{Kind: k, Step: step, Buf: buf})
	}
	done := make(chan error, 1)
	go func() { // the upper node
		for step := 0; ; step++ {
			m, err := hi.UpRecv.Recv(ctx)
			if err != nil {
				done <- err
				return
			}
			hi.UpRecv.Release(m)
			if err := fill(hi.DownSend, channels.Error, step); err != nil {
				done <- err
				return
			}
		}
	}()
	i := 0
	roundTrip = func() error {
		if err := fill(lo.UpSend, channels.Prediction, i); err != nil {
			return err
		}
		m, err := lo.DownRecv.Recv(ctx)
		if err != nil {
			return err
		}
		if m.Step != i {
			return fmt.Errorf("error of step %d, want %d", m.Step, i)
		}
		lo.DownRecv.Release(m)
		i++
		return nil
	}
	stop = func() error {
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			return err
		}
		return nil
	}
	return roundTrip, stop
}

// BenchmarkRoundTripAuthPaired is the authentication's cost on BenchmarkRoundTrip's
// exchange, measured in one loop: a link without a key and one with a run key, each
// between two connections of one embedded server, take round trips in alternating
// blocks of two (internal/pairbench), so that the host's drift slows both alike.
// Reported: each one's microseconds per round trip and their ratio (auth/plain;
// issue 19's target <= 1.2 at batch 64, widths 64, 256 and 1024).
func BenchmarkRoundTripAuthPaired(b *testing.B) {
	for _, width := range []int{64, 256, 1024} {
		b.Run(fmt.Sprintf("width=%d", width), func(b *testing.B) {
			srv := startServer(b, natsconn.Server{})
			must := func(f func() error) func() {
				return func() {
					if err := f(); err != nil {
						b.Fatal(err)
					}
				}
			}
			p := newPair(b, dial(b, srv), dial(b, srv), Options{Run: "plain", Buffers: 1}, 0, benchBatch, width)
			plain, stopPlain := linkRoundTrips(p.lo, p.hi, width)
			p = newPair(b, dial(b, srv), dial(b, srv), Options{Run: "auth", Buffers: 1, Key: testKey(1)}, 0, benchBatch, width)
			auth, stopAuth := linkRoundTrips(p.lo, p.hi, width)
			for range 4 {
				must(plain)()
				must(auth)()
			}
			tPlain, tAuth := pairbench.Run(b, 2, must(plain), must(auth))
			b.ReportMetric(float64(tPlain.Nanoseconds())/1e3, "plain-us/roundtrip")
			b.ReportMetric(float64(tAuth.Nanoseconds())/1e3, "auth-us/roundtrip")
			b.ReportMetric(float64(tAuth)/float64(tPlain), "auth/plain")
			require.NoError(b, stopPlain())
			require.NoError(b, stopAuth())
		})
	}
}

// BenchmarkRoundTripPrecisionPaired is the element type's effect on BenchmarkRoundTrip's
// exchange with a run key (what a run's links do): a float64 link and a float32 one,
// each between two connections of one embedded server, take round trips in alternating
// blocks of two (internal/pairbench). Reported: each one's microseconds and bytes on the
// wire per round trip (both directions, headers and trailers included), and the ratios
// f32/f64.
func BenchmarkRoundTripPrecisionPaired(b *testing.B) {
	for _, width := range []int{64, 256, 1024} {
		b.Run(fmt.Sprintf("width=%d", width), func(b *testing.B) {
			srv := startServer(b, natsconn.Server{})
			must := func(f func() error) func() {
				return func() {
					if err := f(); err != nil {
						b.Fatal(err)
					}
				}
			}
			o := Options{Buffers: 1, Key: testKey(1)}
			o.Run = "f64"
			p64 := newPair(b, dial(b, srv), dial(b, srv), o, 0, benchBatch, width)
			f64, stop64 := linkRoundTrips(p64.lo, p64.hi, width)
			o.Run = "f32"
			p32 := benchPair32(b, srv, o, width)
			f32, stop32 := linkRoundTrips(p32.lo, p32.hi, width)
			for range 4 {
				must(f64)()
				must(f32)()
			}
			t64, t32 := pairbench.Run(b, 2, must(f64), must(f32))
			wire := func(s func(channels.Direction) channels.Stats) float64 {
				up, down := s(channels.Up), s(channels.Down)
				return float64(up.WireBytes+down.WireBytes) / float64(up.Messages)
			}
			w64, w32 := wire(p64.lo.Stats), wire(p32.lo.Stats)
			b.ReportMetric(float64(t64.Nanoseconds())/1e3, "f64-us/roundtrip")
			b.ReportMetric(float64(t32.Nanoseconds())/1e3, "f32-us/roundtrip")
			b.ReportMetric(float64(t32)/float64(t64), "f32/f64-time")
			b.ReportMetric(w64, "f64-wireB/roundtrip")
			b.ReportMetric(w32, "f32-wireB/roundtrip")
			b.ReportMetric(w32/w64, "f32/f64-bytes")
			require.NoError(b, stop64())
			require.NoError(b, stop32())
		})
	}
}

// benchPair32 is newPair's float32 link.
func benchPair32(b *testing.B, srv *natsconn.Embedded, o Options, width int) (p struct{ lo, hi *channels.Link[float32] }) {
	lo, hi := o, o
	lo.Lo, lo.Hi = 0, 0
	hi.Lo, hi.Hi = 1, 1
	for _, end := range []struct {
		o    Options
		link **channels.Link[float32]
	}{{lo, &p.lo}, {hi, &p.hi}} {
		tr, err := New[float32](dial(b, srv), end.o)
		require.NoError(b, err)
		b.Cleanup(func() { require.NoError(b, tr.Close()) })
		*end.link, err = tr.Link(0, benchBatch, width, benchBatch, width)
		require.NoError(b, err)
	}
	return p
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
