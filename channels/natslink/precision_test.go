package natslink

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"

	"github.com/pcnet/pcnet/channels"
	"github.com/pcnet/pcnet/cluster/natsconn"
	"github.com/pcnet/pcnet/tensor"
)

// wireCount counts the bytes of the data frames a transport publishes, as
// they leave for the server.
type wireCount struct {
	mu     sync.Mutex
	frames int
	bytes  int
}

// hook makes tr publish through c, counting its data frames.
func (c *wireCount) hook(tr interface {
	setPub(func(string, []byte) error)
}, nc *nats.Conn) {
	tr.setPub(func(subject string, frame []byte) error {
		if strings.HasSuffix(subject, ".up") || strings.HasSuffix(subject, ".down") {
			c.mu.Lock()
			c.frames++
			c.bytes += len(frame)
			c.mu.Unlock()
		}
		return nc.Publish(subject, frame)
	})
}

func (t *Transport[T]) setPub(pub func(string, []byte) error) { t.pub = pub }

// typedPair is link `lower` of two processes' transports carrying T, with a
// count of the bytes the lower one publishes.
type typedPair[T tensor.Float] struct {
	lo, hi *channels.Link[T]
	wire   *wireCount
}

func newTypedPair[T tensor.Float](t *testing.T, srv *natsconn.Embedded, o Options, lower, rows, cols int) typedPair[T] {
	t.Helper()
	lo, hi := o, o
	lo.Lo, lo.Hi = lower, lower
	hi.Lo, hi.Hi = lower+1, lower+1
	loConn := dial(t, srv)
	loT, hiT := newTyped[T](t, loConn, lo), newTyped[T](t, dial(t, srv), hi)
	p := typedPair[T]{wire: &wireCount{}}
	p.wire.hook(loT, loConn)
	var err error
	p.lo, err = loT.Link(lower, rows, cols, rows, cols)
	require.NoError(t, err)
	p.hi, err = hiT.Link(lower, rows, cols, rows, cols)
	require.NoError(t, err)
	return p
}

func newTyped[T tensor.Float](t *testing.T, nc *nats.Conn, o Options) *Transport[T] {
	t.Helper()
	tr, err := New[T](nc, o)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, tr.Close()) })
	return tr
}

// sendValue sends v up the pair and returns what arrived, released.
func (p typedPair[T]) sendValue(ctx context.Context, t *testing.T, step, rows, cols int, v []T) []T {
	t.Helper()
	b, err := p.lo.UpSend.Acquire(ctx, rows, cols)
	require.NoError(t, err)
	copy(b.Value(), v)
	require.NoError(t, p.lo.UpSend.Send(ctx, channels.Message[T]{Kind: channels.Prediction, Step: step, Buf: b}))
	m, err := p.hi.UpRecv.Recv(ctx)
	require.NoError(t, err)
	got := append([]T(nil), m.Buf.Value()...)
	p.hi.UpRecv.Release(m)
	return got
}

// TestPrecisionRoundTrip: a float32 link, like a float64 one, carries its
// values bit for bit (NaN payloads, -0, subnormals), whole and chunked, with
// a key and without.
func TestPrecisionRoundTrip(t *testing.T) {
	t.Run("float64", testPrecisionRoundTrip[float64])
	t.Run("float32", testPrecisionRoundTrip[float32])
}

func testPrecisionRoundTrip[T tensor.Float](t *testing.T) {
	srv := startServer(t, natsconn.Server{})
	size := int(elemOf[T]())
	for i, o := range []Options{
		{Buffers: 2},
		{Buffers: 2, Key: testKey(3)},
		{Buffers: 1, Key: testKey(4), MaxChunkBytes: headerSize + trailerSize + 5*size},
	} {
		t.Run(fmt.Sprintf("options%d", i), func(t *testing.T) {
			o.Run = fmt.Sprintf("prec%d%d", size, i)
			p := newTypedPair[T](t, srv, o, 1, 5, 7)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			rng := rand.New(rand.NewPCG(2, uint64(i)))
			for step := range 20 {
				rows, cols := 1+rng.IntN(5), 1+rng.IntN(7)
				v := make([]T, rows*cols)
				for j := range v {
					v[j] = T(rng.NormFloat64())
					if rng.IntN(3) == 0 {
						v[j] = special[T](rng.IntN(len(specials)))
					}
				}
				got := p.sendValue(ctx, t, step, rows, cols, v)
				for j := range v {
					require.Equal(t, bitsOf(v[j]), bitsOf(got[j]), "step %d value %d", step, j)
				}
			}
		})
	}
}

// TestPrecisionWireBytes: the same batch sent in float32 takes half the
// payload bytes of float64, counted where the frames leave for the server
// and in the links' Stats alike; the headers and trailers are the same.
func TestPrecisionWireBytes(t *testing.T) {
	const rows, cols = 64, 250 // 125 KiB in float64: one frame each (sealedChunk)
	srv := startServer(t, natsconn.Server{})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	rng := rand.New(rand.NewPCG(5, 5))
	x := make([]float64, rows*cols)
	for i := range x {
		x[i] = rng.NormFloat64()
	}
	x32 := make([]float32, len(x))
	for i, v := range x {
		x32[i] = float32(v)
	}
	o := Options{Buffers: 1, Key: testKey(6)}
	o.Run = "bytes64"
	p64 := newTypedPair[float64](t, srv, o, 0, rows, cols)
	o.Run = "bytes32"
	p32 := newTypedPair[float32](t, srv, o, 0, rows, cols)
	for step := range 3 {
		p64.sendValue(ctx, t, step, rows, cols, x)
		p32.sendValue(ctx, t, step, rows, cols, x32)
	}
	frame := headerSize + trailerSize
	require.Equal(t, 3, p64.wire.frames)
	require.Equal(t, 3, p32.wire.frames)
	require.Equal(t, 3*(frame+8*rows*cols), p64.wire.bytes)
	require.Equal(t, 3*(frame+4*rows*cols), p32.wire.bytes)
	require.Equal(t, p64.wire.bytes-3*frame, 2*(p32.wire.bytes-3*frame), "float32 payloads are half the float64 ones")

	for _, c := range []struct {
		stats channels.Stats
		wire  *wireCount
		size  int
	}{{p64.lo.Stats(channels.Up), p64.wire, 8}, {p32.lo.Stats(channels.Up), p32.wire, 4}} {
		require.Equal(t, channels.Stats{Messages: 3, Bytes: uint64(3 * c.size * rows * cols), WireBytes: uint64(c.wire.bytes)}, c.stats)
	}
	require.Equal(t, p32.lo.Stats(channels.Up), p32.hi.Stats(channels.Up), "the receiver counts what the sender does")
}

// TestPrecisionMismatch: a receiver refuses a frame of the other element
// type with one error naming both; with a key the frame is authentic, so it
// breaks the link as any other bad authentic frame does. A frame longer than
// any of the receiver's own type is dropped and counted as oversize instead
// (the bound on a frame is in bytes of the receiver's type).
func TestPrecisionMismatch(t *testing.T) {
	srv := startServer(t, natsconn.Server{})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, key := range [][]byte{nil, testKey(7)} {
		t.Run(fmt.Sprintf("key=%v", key != nil), func(t *testing.T) {
			run := fmt.Sprintf("mix%v", key != nil)
			lo := newTyped[float32](t, dial(t, srv), Options{Run: run, Lo: 0, Hi: 0, Buffers: 1, Key: key})
			hi := newTyped[float64](t, dial(t, srv), Options{Run: run, Lo: 1, Hi: 1, Buffers: 1, Key: key})
			a, err := lo.Link(0, 2, 3, 2, 3)
			require.NoError(t, err)
			b, err := hi.Link(0, 2, 3, 2, 3)
			require.NoError(t, err)
			buf, err := a.UpSend.Acquire(ctx, 2, 3)
			require.NoError(t, err)
			require.NoError(t, a.UpSend.Send(ctx, channels.Message[float32]{Kind: channels.Prediction, Step: 1, Buf: buf}))
			_, err = b.UpRecv.Recv(ctx)
			want := fmt.Sprintf("natslink: run %s link 0-1 up: message 0 carries float32 values; this end receives float64 (the processes run in different precisions)", run)
			require.EqualError(t, err, want)
			_, err = b.UpRecv.Recv(ctx)
			require.EqualError(t, err, want, "the link stays broken")
		})
	}
	t.Run("oversize", func(t *testing.T) {
		rej := NewRejects(nil)
		lo := newTyped[float64](t, dial(t, srv), Options{Run: "mixbig", Lo: 0, Hi: 0, Buffers: 1, Key: testKey(8)})
		hi := newTyped[float32](t, dial(t, srv), Options{Run: "mixbig", Lo: 1, Hi: 1, Buffers: 1, Key: testKey(8), Rejects: rej})
		a, err := lo.Link(0, 2, 3, 2, 3)
		require.NoError(t, err)
		b, err := hi.Link(0, 2, 3, 2, 3)
		require.NoError(t, err)
		buf, err := a.UpSend.Acquire(ctx, 2, 3)
		require.NoError(t, err)
		require.NoError(t, a.UpSend.Send(ctx, channels.Message[float64]{Kind: channels.Prediction, Step: 1, Buf: buf}))
		// Recv reads the frames: it waits on until the one frame has been dropped.
		for len(rej.Counts()) == 0 {
			require.NoError(t, ctx.Err())
			short, stop := context.WithTimeout(ctx, 20*time.Millisecond)
			_, err = b.UpRecv.Recv(short)
			stop()
			require.ErrorIs(t, err, context.DeadlineExceeded, "the float64 frame is dropped, not read")
		}
		require.Equal(t, []Rejected{{Kind: "data", Reason: "oversize", Count: 1}}, rej.Counts())
	})
}
