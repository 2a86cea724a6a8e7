package natslink

import (
	"context"
	"fmt"
	"github.com/pcnet/pcnet/cluster/natsconn"
	"math"
	"math/rand/v2"
	"regexp"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/pcnet/pcnet/channels"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// startServer starts an embedded server that the test shuts down.
func startServer(t testing.TB, c natsconn.Server) *natsconn.Embedded {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	e, err := c.Start(ctx)
	require.NoError(t, err)
	t.Cleanup(e.Shutdown)
	return e
}

// dial connects to e; the test closes the connection.
func dial(t testing.TB, e *natsconn.Embedded) *nats.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	nc, err := natsconn.DialEmbedded(ctx, e, t.Name())
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	return nc
}

// newTransport makes a transport that the test closes (before its connection).
func newTransport(t testing.TB, nc *nats.Conn, o Options) *Transport[float64] {
	t.Helper()
	tr, err := New[float64](nc, o)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, tr.Close()) })
	return tr
}

// pair is link `lower` seen from two processes: the lower node's and the
// upper node's, each with a connection and transport of its own.
type pair struct {
	lo, hi   *channels.Link[float64]
	loT, hiT *Transport[float64] // nil in-process
}

func newPair(t testing.TB, lowerConn, upperConn *nats.Conn, o Options, lower, rows, cols int) pair {
	t.Helper()
	lo, hi := o, o
	lo.Lo, lo.Hi = lower, lower
	hi.Lo, hi.Hi = lower+1, lower+1
	loT, hiT := newTransport(t, lowerConn, lo), newTransport(t, upperConn, hi)
	a, err := loT.Link(lower, rows, cols, rows, cols)
	require.NoError(t, err)
	b, err := hiT.Link(lower, rows, cols, rows, cols)
	require.NoError(t, err)
	return pair{lo: a, hi: b, loT: loT, hiT: hiT}
}

func send(ctx context.Context, s channels.Sender[float64], k channels.Kind, step int, p channels.Payload, rows, cols int, v []float64) error {
	b, err := s.Acquire(ctx, rows, cols)
	if err != nil {
		return err
	}
	copy(b.Value(), v)
	return s.Send(ctx, channels.Message[float64]{Kind: k, Step: step, Payload: p, Buf: b})
}

// requireBits checks that got holds exactly the bits of want.
func requireBits(t testing.TB, want, got []float64) {
	t.Helper()
	require.Len(t, got, len(want))
	for i := range want {
		if math.Float64bits(want[i]) != math.Float64bits(got[i]) {
			t.Fatalf("float %d: got %v (%#x), want %v (%#x)", i, got[i], math.Float64bits(got[i]), want[i], math.Float64bits(want[i]))
		}
	}
}

func randomValue(rng *rand.Rand, n int) []float64 {
	v := make([]float64, n)
	for i := range v {
		v[i] = rng.NormFloat64()
		if rng.IntN(5) == 0 {
			v[i] = specials[rng.IntN(len(specials))]
		}
	}
	return v
}

// TestEveryKindAndPayload sends predictions up and errors down between two
// processes' transports, every payload, random shapes, whole and chunked:
// every message arrives with its kind, step, payload and shape, and a Full
// one bit for bit.
func TestEveryKindAndPayload(t *testing.T) {
	srv := startServer(t, natsconn.Server{})
	for _, chunk := range []int{0, headerSize + 8, headerSize + 8*5} {
		t.Run(fmt.Sprintf("maxChunk=%d", chunk), func(t *testing.T) {
			p := newPair(t, dial(t, srv), dial(t, srv), Options{Run: fmt.Sprintf("kinds%d", chunk), Buffers: 2, MaxChunkBytes: chunk}, 3, 6, 9)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			rng := rand.New(rand.NewPCG(1, uint64(chunk)))
			for step := range 60 {
				for _, d := range []struct {
					s    channels.Sender[float64]
					r    channels.Receiver[float64]
					kind channels.Kind
				}{{p.lo.UpSend, p.hi.UpRecv, channels.Prediction}, {p.hi.DownSend, p.lo.DownRecv, channels.Error}} {
					rows, cols := 1+rng.IntN(6), 1+rng.IntN(9)
					payload := channels.Payloads()[step%3]
					v := randomValue(rng, rows*cols)
					require.NoError(t, send(ctx, d.s, d.kind, step, payload, rows, cols, v))
					m, err := d.r.Recv(ctx)
					require.NoError(t, err)
					require.Equal(t, d.kind, m.Kind)
					require.Equal(t, step, m.Step)
					require.Equal(t, payload, m.Payload)
					require.Equal(t, [2]int{rows, cols}, [2]int{m.Buf.Rows, m.Buf.Cols})
					if payload == channels.Full {
						requireBits(t, v, m.Buf.Value())
					}
					d.r.Release(m)
				}
			}
		})
	}
}

// TestLinkEnds: a process holds the ends of its nodes only; a link of two
// local nodes is in-process or over NATS as asked; counters count.
func TestLinkEnds(t *testing.T) {
	srv := startServer(t, natsconn.Server{})
	nc := dial(t, srv)
	tr := newTransport(t, nc, Options{Run: "ends", Lo: 2, Hi: 4})

	below, err := tr.Link(1, 2, 3, 2, 3) // node 2 is the upper node
	require.NoError(t, err)
	require.Nil(t, below.UpSend)
	require.Nil(t, below.DownRecv)
	require.NotNil(t, below.UpRecv)
	require.NotNil(t, below.DownSend)

	above, err := tr.Link(4, 2, 3, 2, 3) // node 4 is the lower node
	require.NoError(t, err)
	require.NotNil(t, above.UpSend)
	require.NotNil(t, above.DownRecv)
	require.Nil(t, above.UpRecv)
	require.Nil(t, above.DownSend)

	inside, err := tr.Link(2, 2, 3, 2, 3)
	require.NoError(t, err)
	require.NotContains(t, fmt.Sprintf("%T", inside.UpSend), "natslink", "a link of two local nodes is in-process by default")

	_, err = tr.Link(2, 2, 3, 2, 3)
	require.EqualError(t, err, "natslink: run ends: link 2-3 made twice")
	_, err = tr.Link(6, 2, 3, 2, 3)
	require.EqualError(t, err, "natslink: run ends: link 6-7 has no node in this process's range [2, 4]")
	_, err = tr.Link(-1, 2, 3, 2, 3)
	require.Error(t, err)
	_, err = tr.Link(3, 0, 3, 2, 3)
	require.EqualError(t, err, "channels: link 3-4 up: max shape 0x3 must be at least 1x1", "in-process")
	_, err = tr.Link(0, 2, 3, 2, 0) // wait: node 0 is not hosted
	require.Error(t, err)
	_, err = newTransport(t, nc, Options{Run: "ends3", Lo: 0, Hi: 0}).Link(0, 2, 3, 2, 0)
	require.EqualError(t, err, "natslink: run ends3 link 0-1 down: max shape 2x0 must be at least 1x1", "over NATS")

	over := newTransport(t, nc, Options{Run: "ends2", Lo: 0, Hi: 1, LocalOverNATS: true, Buffers: 1})
	l, err := over.Link(0, 2, 3, 2, 3)
	require.NoError(t, err)
	require.Contains(t, fmt.Sprintf("%T", l.UpSend), "natslink", "LocalOverNATS carries a local link over NATS")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, send(ctx, l.UpSend, channels.Prediction, 0, channels.Full, 2, 3, []float64{1, 2, 3, 4, 5, 6}))
	m, err := l.UpRecv.Recv(ctx)
	require.NoError(t, err)
	requireBits(t, []float64{1, 2, 3, 4, 5, 6}, m.Buf.Value())
	require.Equal(t, channels.Stats{Messages: 1, Bytes: 48, WireBytes: headerSize + 48}, l.Stats(channels.Up))
	l.UpRecv.Release(m)
	require.NoError(t, send(ctx, l.DownSend, channels.Error, 0, channels.Zero, 2, 3, nil))
	m, err = l.DownRecv.Recv(ctx)
	require.NoError(t, err)
	require.Equal(t, channels.Zero, m.Payload)
	l.DownRecv.Release(m)
	require.Equal(t, channels.Stats{Messages: 1, Bytes: 0, WireBytes: headerSize}, l.Stats(channels.Down), "a zero payload carries no bytes, its frame a header")
}

// TestRemoteStats: a process holding only the receiving end counts what it
// received.
func TestRemoteStats(t *testing.T) {
	srv := startServer(t, natsconn.Server{})
	p := newPair(t, dial(t, srv), dial(t, srv), Options{Run: "stats", Buffers: 1}, 0, 4, 4)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for step, payload := range []channels.Payload{channels.Full, channels.Unchanged, channels.Full} {
		require.NoError(t, send(ctx, p.lo.UpSend, channels.Prediction, step, payload, 2, 4, make([]float64, 8)))
		m, err := p.hi.UpRecv.Recv(ctx)
		require.NoError(t, err)
		p.hi.UpRecv.Release(m)
	}
	want := channels.Stats{Messages: 3, Bytes: 128, WireBytes: 3*headerSize + 128}
	require.Equal(t, want, p.lo.Stats(channels.Up))
	require.Equal(t, want, p.hi.Stats(channels.Up))
	require.Equal(t, channels.Stats{}, p.hi.Stats(channels.Down))

	// The receiving ends' traffic, taken once: the upper node receives up,
	// the lower down.
	got := p.hiT.TakeTraffic()
	require.Len(t, got, 1)
	require.Equal(t, channels.Traffic{Lower: 0, Upper: 1, Dir: channels.Up, Messages: 3, Bytes: 128, WireBytes: 3*headerSize + 128, Latency: got[0].Latency}, got[0])
	requireLatencies(t, got[0].Latency, 3, 0)
	require.Equal(t, []channels.Traffic{{Lower: 0, Upper: 1, Dir: channels.Up}}, p.hiT.TakeTraffic(), "nothing new since the last take")
	require.Equal(t, []channels.Traffic{{Lower: 0, Upper: 1, Dir: channels.Down}}, p.loT.TakeTraffic())
}

// TestChunkedWireBytes: a chunked message takes a header per chunk on the wire.
func TestChunkedWireBytes(t *testing.T) {
	srv := startServer(t, natsconn.Server{})
	// 3 float64s a frame: a 2x4 value takes 3 chunks.
	p := newPair(t, dial(t, srv), dial(t, srv), Options{Run: "chunkbytes", Buffers: 1, MaxChunkBytes: headerSize + 24}, 0, 2, 4)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, send(ctx, p.lo.UpSend, channels.Prediction, 0, channels.Full, 2, 4, make([]float64, 8)))
	m, err := p.hi.UpRecv.Recv(ctx)
	require.NoError(t, err)
	p.hi.UpRecv.Release(m)
	want := channels.Stats{Messages: 1, Bytes: 64, WireBytes: 3*headerSize + 64}
	require.Equal(t, want, p.lo.Stats(channels.Up))
	require.Equal(t, want, p.hi.Stats(channels.Up))
}

// requireLatencies checks that l counts n messages, none of them at or below
// the bound `atLeast` exceeds, and that its sum is at least n x atLeast.
func requireLatencies(t testing.TB, l channels.Latency, n uint64, atLeast time.Duration) {
	t.Helper()
	var total uint64
	bounds := channels.LatencyBuckets()
	for i, c := range l.Counts {
		total += c
		if i < len(bounds) && bounds[i] < atLeast.Seconds() {
			require.Zero(t, c, "latencies at most %vs, below the least possible %v", bounds[i], atLeast)
		}
	}
	require.Equal(t, n, total, "latencies counted")
	require.GreaterOrEqual(t, l.Sum, time.Duration(n)*atLeast, "latencies' sum")
}

// TestBackPressure: a sender is never more than its credits ahead; a credit
// comes back on Release, not on Recv.
func TestBackPressure(t *testing.T) {
	srv := startServer(t, natsconn.Server{})
	for _, buffers := range []int{1, 2, 3} {
		t.Run(fmt.Sprintf("buffers=%d", buffers), func(t *testing.T) {
			p := newPair(t, dial(t, srv), dial(t, srv), Options{Run: fmt.Sprintf("bp%d", buffers), Buffers: buffers}, 0, 2, 2)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			for i := range buffers {
				require.NoError(t, send(ctx, p.lo.UpSend, channels.Prediction, i, channels.Full, 1, 1, []float64{float64(i)}))
			}
			blocked := func() {
				short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
				defer cancel()
				_, err := p.lo.UpSend.Acquire(short, 1, 1)
				require.ErrorIs(t, err, context.DeadlineExceeded, "out of credits")
			}
			blocked()
			m, err := p.hi.UpRecv.Recv(ctx)
			require.NoError(t, err)
			require.Equal(t, 0, m.Step)
			blocked() // received but not released: still no credit
			p.hi.UpRecv.Release(m)
			require.NoError(t, send(ctx, p.lo.UpSend, channels.Prediction, buffers, channels.Full, 1, 1, []float64{9}))
			blocked()
			for i := 1; i <= buffers; i++ {
				m, err := p.hi.UpRecv.Recv(ctx)
				require.NoError(t, err)
				require.Equal(t, i, m.Step)
				p.hi.UpRecv.Release(m)
			}
		})
	}
}

// TestCancellation: a done ctx unblocks Acquire (out of credits) and Recv
// (nothing sent), and wins over a ready message.
func TestCancellation(t *testing.T) {
	srv := startServer(t, natsconn.Server{})
	p := newPair(t, dial(t, srv), dial(t, srv), Options{Run: "cancel", Buffers: 1}, 0, 2, 2)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, send(ctx, p.lo.UpSend, channels.Prediction, 0, channels.Full, 1, 1, []float64{1}))

	var wg sync.WaitGroup
	errs := make([]error, 2)
	cancelled, stop := context.WithCancel(ctx)
	wg.Add(2)
	go func() {
		defer wg.Done()
		_, errs[0] = p.lo.UpSend.Acquire(cancelled, 1, 1)
	}()
	go func() {
		defer wg.Done()
		_, errs[1] = p.lo.DownRecv.Recv(cancelled)
	}()
	time.Sleep(20 * time.Millisecond) // let both block; the result does not depend on it
	stop()
	wg.Wait()
	require.ErrorIs(t, errs[0], context.Canceled)
	require.ErrorIs(t, errs[1], context.Canceled)

	// A message waits for the upper node; a cancelled ctx still wins.
	waitPending(t, p.hi.UpRecv)
	_, err := p.hi.UpRecv.Recv(cancelled)
	require.ErrorIs(t, err, context.Canceled)
	m, err := p.hi.UpRecv.Recv(ctx)
	require.NoError(t, err)
	p.hi.UpRecv.Release(m)
}

// waitPending waits until a frame is queued for r.
func waitPending(t testing.TB, r channels.Receiver[float64]) {
	t.Helper()
	require.Eventually(t, func() bool { return len(r.(*recvEnd[float64]).frames) > 0 }, 10*time.Second, time.Millisecond)
}

// TestRunsIsolated: two runs on one server, or two setups of one run, use the
// same links and never see each other's messages; every subject of the first
// is under pcnet.<run>. (a spy on pcnet.<run>.> sees them all) and names it.
func TestRunsIsolated(t *testing.T) {
	for _, tc := range []struct {
		name    string
		a, b    Options
		subject string // every subject of a's links
		tag     string // what a's run tag hashes
	}{
		{"runs", Options{Run: "run-a"}, Options{Run: "run-b"}, `^pcnet\.run-a\.link\.1\.(up|down)(\.credit|\.hello)?$`, "run-a"},
		{"setups", Options{Run: "run-a", Setup: 1}, Options{Run: "run-a", Setup: 2}, `^pcnet\.run-a\.setup\.1\.link\.1\.(up|down)(\.credit|\.hello)?$`, "run-a.setup.1"},
		{"setup and none", Options{Run: "run-a", Setup: 0}, Options{Run: "run-a", Setup: 3}, `^pcnet\.run-a\.link\.1\.(up|down)(\.credit|\.hello)?$`, "run-a"},
	} {
		t.Run(tc.name, func(t *testing.T) { testRunsIsolated(t, tc.a, tc.b, tc.subject, tc.tag) })
	}
}

func testRunsIsolated(t *testing.T, oa, ob Options, subject, tag string) {
	srv := startServer(t, natsconn.Server{})
	oa.Buffers, ob.Buffers = 2, 2
	spy := dial(t, srv)
	seen := make(chan *nats.Msg, 64)
	// Subscribed before the links exist, so that the spy sees their setup too.
	sub, err := spy.ChanSubscribe("pcnet."+oa.Run+".>", seen)
	require.NoError(t, err)
	defer func() { require.NoError(t, sub.Unsubscribe()) }()
	require.NoError(t, spy.Flush())
	a := newPair(t, dial(t, srv), dial(t, srv), oa, 1, 1, 1)
	b := newPair(t, dial(t, srv), dial(t, srv), ob, 1, 1, 1)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for step := range 5 {
		require.NoError(t, send(ctx, a.lo.UpSend, channels.Prediction, step, channels.Full, 1, 1, []float64{1}))
		require.NoError(t, send(ctx, b.lo.UpSend, channels.Prediction, step, channels.Full, 1, 1, []float64{2}))
		for _, c := range []struct {
			p    pair
			want float64
		}{{a, 1}, {b, 2}} {
			m, err := c.p.hi.UpRecv.Recv(ctx)
			require.NoError(t, err)
			require.Equal(t, step, m.Step)
			require.Equal(t, c.want, m.Buf.Value()[0])
			c.p.hi.UpRecv.Release(m)
		}
	}
	short, stop := context.WithTimeout(ctx, 50*time.Millisecond)
	defer stop()
	_, err = b.hi.UpRecv.Recv(short)
	require.ErrorIs(t, err, context.DeadlineExceeded, "run b has nothing more")
	require.NoError(t, spy.Flush())
	var mine int
	for len(seen) > 0 {
		m := <-seen
		if oa.Run == ob.Run && !regexp.MustCompile(subject).MatchString(m.Subject) {
			continue // b's, under the same run
		}
		mine++
		// Link setup (the down direction's first credit, a hello) may still be in flight.
		require.Regexp(t, subject, m.Subject)
		var h header
		require.NoError(t, parseHeader(m.Data, &h, false))
		require.Equal(t, runTag(tag), h.run)
	}
	require.GreaterOrEqual(t, mine, 5, "the spy on pcnet.%s.> saw a's messages", oa.Run)
}

// TestLargeMessage: width 4096 x batch 64 (2 MiB) through a server with the
// default 1 MiB max payload: chunked into three frames, bit for bit.
func TestLargeMessage(t *testing.T) {
	const rows, cols = 64, 4096
	srv := startServer(t, natsconn.Server{})
	lowerConn := dial(t, srv)
	require.Equal(t, int64(1<<20), lowerConn.MaxPayload())
	p := newPair(t, lowerConn, dial(t, srv), Options{Run: "large", Buffers: 1}, 0, rows, cols)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	rng := rand.New(rand.NewPCG(4, 4))
	for step := range 3 {
		v := randomValue(rng, rows*cols)
		before := lowerConn.Stats().OutMsgs
		require.NoError(t, send(ctx, p.lo.UpSend, channels.Prediction, step, channels.Full, rows, cols, v))
		if step > 0 { // before the first grant, the sender may also publish hellos
			require.Equal(t, uint64(3), lowerConn.Stats().OutMsgs-before, "2 MiB in 1 MiB frames")
		}
		m, err := p.hi.UpRecv.Recv(ctx)
		require.NoError(t, err)
		requireBits(t, v, m.Buf.Value())
		p.hi.UpRecv.Release(m)
	}
}

// TestCluster: three servers routed on 127.0.0.1; the lower node's process
// on one, the upper's on another, a spy on the third: the exchange is the
// same as in one process.
func TestCluster(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	members, err := natsconn.Server{}.StartCluster(ctx, 3)
	require.NoError(t, err)
	for _, m := range members {
		t.Cleanup(m.Shutdown)
	}
	require.NotEqual(t, members[0].URL, members[2].URL)
	got := lockstep(t, newPair(t, dial(t, members[0]), dial(t, members[2]), Options{Run: "cluster", Buffers: 1}, 0, 4, 8), 4, 8, 40)
	want := lockstep(t, inProcessPair(t, 1, 4, 8), 4, 8, 40)
	require.Equal(t, want, got)
}

// TestServerGone: when the server stops, blocked and later calls fail with
// one error naming the lost connection; they do not hang, and the transport
// does not resume (a message may have been lost with the server).
func TestServerGone(t *testing.T) {
	srv := startServer(t, natsconn.Server{})
	p := newPair(t, dial(t, srv), dial(t, srv), Options{Run: "gone", Buffers: 1}, 0, 2, 2)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	recvErr := make(chan error, 1)
	go func() {
		_, err := p.hi.UpRecv.Recv(ctx)
		recvErr <- err
	}()
	srv.Shutdown()
	err := <-recvErr
	require.ErrorContains(t, err, "natslink: run gone: connection to nats://127.0.0.1:")
	require.ErrorContains(t, err, "the run's links are broken")
	require.NoError(t, ctx.Err(), "failed before the deadline")
	_, err = p.lo.DownRecv.Recv(ctx) // blocks until the other process notices too
	require.ErrorContains(t, err, "the run's links are broken")
	_, err = p.lo.UpSend.Acquire(ctx, 1, 1)
	require.ErrorContains(t, err, "the run's links are broken")
	require.NoError(t, ctx.Err(), "failed before the deadline")
}

// TestMalformedOnTheWire: a frame published on a link's subject by anyone
// else is an error of Recv naming what is wrong, and the link stays broken.
func TestMalformedOnTheWire(t *testing.T) {
	srv := startServer(t, natsconn.Server{})
	intruder := dial(t, srv)
	msg := func(e endpoint, seq uint64, rows int) []byte {
		return encodeFrames(e, seq, channels.Message[float64]{Kind: channels.Prediction, Buf: &channels.Buffer[float64]{Rows: rows, Cols: 2, Data: make([]float64, rows*2)}}, 100)[0]
	}
	tests := []struct {
		name   string
		frames func(e endpoint) [][]byte
		want   string
	}{
		{"garbage", func(endpoint) [][]byte { return [][]byte{[]byte("hello")} }, "truncated frame: 5 bytes"},
		{"other run", func(endpoint) [][]byte { return [][]byte{msg(newEndpoint("other", 0, channels.Up), 0, 1)} }, "frame of another run"},
		{"shape", func(e endpoint) [][]byte { return [][]byte{msg(e, 0, 9)} }, "message 0 is 9x2; the pool's buffers are 3x2"},
		{"sequence", func(e endpoint) [][]byte { return [][]byte{msg(e, 0, 1), msg(e, 2, 1)} }, "message 2 out of order: expected message 1"},
		{"truncated", func(e endpoint) [][]byte { return [][]byte{msg(e, 0, 2)[:headerSize+3]} }, "truncated frame: body of 3 bytes, the header says 32"},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			run := fmt.Sprintf("victim%d", i)
			tr := newTransport(t, dial(t, srv), Options{Run: run, Lo: 1, Hi: 1, Buffers: 2})
			l, err := tr.Link(0, 3, 2, 3, 2)
			require.NoError(t, err)
			for _, f := range tc.frames(newEndpoint(run, 0, channels.Up)) {
				require.NoError(t, intruder.Publish("pcnet."+run+".link.0.up", f))
			}
			require.NoError(t, intruder.Flush())
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			var recvErr error
			for recvErr == nil {
				var m channels.Message[float64]
				if m, recvErr = l.UpRecv.Recv(ctx); recvErr == nil {
					l.UpRecv.Release(m)
				}
			}
			require.ErrorContains(t, recvErr, tc.want)
			require.ErrorContains(t, recvErr, "natslink: run "+run+" link 0-1 up: ")
			_, again := l.UpRecv.Recv(ctx)
			require.Equal(t, recvErr, again, "the link stays broken")
		})
	}
}

// TestLockstepMatchesInProcess: a pair of PC-like nodes exchanging errors
// down and predictions up for many steps receive bit for bit the same
// messages over NATS (two processes' transports, or one transport carrying
// a local link, chunked or not) as over an in-process link.
func TestLockstepMatchesInProcess(t *testing.T) {
	const rows, cols, steps = 5, 12, 60
	want := lockstep(t, inProcessPair(t, 1, rows, cols), rows, cols, steps)
	srv := startServer(t, natsconn.Server{})
	t.Run("two processes", func(t *testing.T) {
		got := lockstep(t, newPair(t, dial(t, srv), dial(t, srv), Options{Run: "lock2", Buffers: 1}, 0, rows, cols), rows, cols, steps)
		require.Equal(t, want, got)
	})
	t.Run("chunked", func(t *testing.T) {
		got := lockstep(t, newPair(t, dial(t, srv), dial(t, srv), Options{Run: "lockc", Buffers: 1, MaxChunkBytes: headerSize + 8*7}, 0, rows, cols), rows, cols, steps)
		require.Equal(t, want, got)
	})
	t.Run("local over NATS", func(t *testing.T) {
		l, err := newTransport(t, dial(t, srv), Options{Run: "lock1", Lo: 0, Hi: 1, Buffers: 1, LocalOverNATS: true}).Link(0, rows, cols, rows, cols)
		require.NoError(t, err)
		require.Equal(t, want, lockstep(t, pair{lo: l, hi: l}, rows, cols, steps))
	})
	var payloads [3]int
	for _, r := range want {
		payloads[r[2]]++
	}
	require.Positive(t, payloads[channels.Zero], "the exchange sends zero payloads")
	require.Positive(t, payloads[channels.Unchanged], "and unchanged ones")
}

// TestDelay: an injected per-hop delay makes a round trip take at least two
// hops' delay; the values are those without it.
func TestDelay(t *testing.T) {
	const delay = 20 * time.Millisecond
	srv := startServer(t, natsconn.Server{})
	fast := lockstep(t, newPair(t, dial(t, srv), dial(t, srv), Options{Run: "nodelay", Buffers: 1}, 0, 3, 5), 3, 5, 5)
	slow := newPair(t, dial(t, srv), dial(t, srv), Options{Run: "delay", Buffers: 1, Delay: delay}, 0, 3, 5)
	start := time.Now()
	got := lockstep(t, slow, 3, 5, 5)
	require.GreaterOrEqual(t, time.Since(start), 2*5*delay, "5 steps of two delayed hops each")
	require.Equal(t, fast, got)
	// Every message's latency includes the delay of its hop.
	for _, tr := range []*Transport[float64]{slow.loT, slow.hiT} {
		got := tr.TakeTraffic()
		require.Len(t, got, 1)
		requireLatencies(t, got[0].Latency, 5, delay)
	}
}

// lockstep runs `steps` steps of a pair of PC-like nodes over l: the lower
// node sends its prediction up, the upper answers with the error, the lower
// moves along it. Step 0's error is Zero, repeats are Unchanged, as the event
// schedule sends them. It returns the bits each node received, in order.
func lockstep(t testing.TB, l pair, rows, cols, steps int) [][]uint64 {
	t.Helper()
	const gamma = 0.1
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	rng := rand.New(rand.NewPCG(9, 9))
	x := randomValue(rand.New(rand.NewPCG(8, 8)), rows*cols)
	for i := range x {
		x[i] = math.Tanh(x[i]) // finite
	}
	y := make([]float64, rows*cols)
	for i := range y {
		y[i] = rng.Float64()
	}
	var mu sync.Mutex
	var received [][]uint64
	record := func(m channels.Message[float64]) {
		mu.Lock()
		defer mu.Unlock()
		r := []uint64{uint64(m.Kind), uint64(m.Step), uint64(m.Payload)}
		if m.Payload == channels.Full {
			for _, v := range m.Buf.Value() {
				r = append(r, math.Float64bits(v))
			}
		}
		received = append(received, r)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	var upperErr error
	go func() { // upper node: error = y - prediction; zero at step 0, unchanged when equal
		defer wg.Done()
		last := make([]float64, rows*cols)
		e := make([]float64, rows*cols)
		for step := range steps {
			m, err := l.hi.UpRecv.Recv(ctx)
			if err != nil {
				upperErr = err
				return
			}
			record(m)
			for i, p := range m.Buf.Value() {
				e[i] = y[i] - p
			}
			l.hi.UpRecv.Release(m)
			payload := channels.Full
			switch {
			case step == 0:
				payload = channels.Zero
			case equalBits(e, last):
				payload = channels.Unchanged
			}
			copy(last, e)
			if err := send(ctx, l.hi.DownSend, channels.Error, step, payload, rows, cols, e); err != nil {
				upperErr = err
				return
			}
		}
	}()
	var lowerErr error
	e := make([]float64, rows*cols) // what the lower node made of the last error
	for step := range steps {
		p := make([]float64, rows*cols)
		for i, v := range x {
			p[i] = math.Tanh(v)
		}
		if lowerErr = send(ctx, l.lo.UpSend, channels.Prediction, step, channels.Full, rows, cols, p); lowerErr != nil {
			break
		}
		m, err := l.lo.DownRecv.Recv(ctx)
		if lowerErr = err; err != nil {
			break
		}
		record(m)
		switch m.Payload {
		case channels.Full:
			copy(e, m.Buf.Value())
		case channels.Zero:
			clear(e)
		}
		l.lo.DownRecv.Release(m)
		if step%3 == 1 {
			continue // hold still: the next prediction, and error, repeat
		}
		for i := range x {
			x[i] += gamma * e[i]
		}
	}
	cancel()
	wg.Wait()
	require.NoError(t, lowerErr)
	require.NoError(t, upperErr)
	return received
}

func equalBits(a, b []float64) bool {
	for i := range a {
		if math.Float64bits(a[i]) != math.Float64bits(b[i]) {
			return false
		}
	}
	return true
}

func inProcessPair(t testing.TB, buffers, rows, cols int) pair {
	t.Helper()
	l, err := channels.NewInProcess[float64](buffers).Link(0, rows, cols, rows, cols)
	require.NoError(t, err)
	return pair{lo: l, hi: l}
}

// TestSteadyStateAllocations: a round trip (a prediction up, an error down,
// both released) allocates no more than nats.go and the embedded server do
// for the same four frames (two messages, two credits) published and
// received with nats.go alone: the transport adds no allocation per message.
// (nats.go's client allocates three objects per delivered frame: the subject
// string, a copy of the payload and the Msg; the server in this process
// allocates for routing them.)
func TestSteadyStateAllocations(t *testing.T) {
	const rows, cols = 8, 16
	srv := startServer(t, natsconn.Server{})
	p := newPair(t, dial(t, srv), dial(t, srv), Options{Run: "allocs", Buffers: 1}, 0, rows, cols)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var failed error
	step := 0
	roundTrip := func() {
		for _, d := range []struct {
			s    channels.Sender[float64]
			r    channels.Receiver[float64]
			kind channels.Kind
		}{{p.lo.UpSend, p.hi.UpRecv, channels.Prediction}, {p.hi.DownSend, p.lo.DownRecv, channels.Error}} {
			b, err := d.s.Acquire(ctx, rows, cols)
			if err != nil {
				failed = err
				return
			}
			b.Data[0] = float64(step)
			if err := d.s.Send(ctx, channels.Message[float64]{Kind: d.kind, Step: step, Buf: b}); err != nil {
				failed = err
				return
			}
			m, err := d.r.Recv(ctx)
			if err != nil {
				failed = err
				return
			}
			d.r.Release(m)
		}
		step++
	}
	roundTrip() // the first grants arrive
	ours := testing.AllocsPerRun(500, roundTrip)
	require.NoError(t, failed)

	baseline := testing.AllocsPerRun(500, rawRoundTrip(t, dial(t, srv), dial(t, srv), headerSize+8*rows*cols))
	t.Logf("allocations per round trip: transport %.0f, nats.go alone %.0f", ours, baseline)
	require.LessOrEqual(t, ours, baseline)
}

// rawRoundTrip returns a round trip of four frames over nats.go alone: a
// message up and its credit back, a message down and its credit back.
func rawRoundTrip(t testing.TB, a, b *nats.Conn, size int) func() {
	t.Helper()
	sub := func(nc *nats.Conn, subject string) chan *nats.Msg {
		ch := make(chan *nats.Msg, 4)
		s, err := nc.ChanSubscribe(subject, ch)
		require.NoError(t, err)
		t.Cleanup(func() { _ = s.Unsubscribe() })
		require.NoError(t, nc.Flush())
		return ch
	}
	up, upCredit := sub(b, "raw.up"), sub(a, "raw.up.credit")
	down, downCredit := sub(a, "raw.down"), sub(b, "raw.down.credit")
	data, credit := make([]byte, size), make([]byte, headerSize)
	return func() {
		_ = a.Publish("raw.up", data)
		<-up
		_ = b.Publish("raw.up.credit", credit)
		<-upCredit
		_ = b.Publish("raw.down", data)
		<-down
		_ = a.Publish("raw.down.credit", credit)
		<-downCredit
	}
}

// TestOwnCodeAllocatesNothing: with the client's delivery replaced by
// pre-allocated messages, a round trip through the transport's own code
// (Acquire, Send with its encoding, Recv with its decoding, Release with its
// credit, the credit's check) allocates nothing, with authentication (the
// frames sealed and opened) and without, and with a value in several sealed
// chunks.
func TestOwnCodeAllocatesNothing(t *testing.T) {
	srv := startServer(t, natsconn.Server{})
	for _, tc := range []struct {
		name     string
		key      []byte
		maxChunk int
	}{{"no key", nil, 0}, {"key", testKey(3), 0}, {"key chunked", testKey(3), headerSize + 8*7 + trailerSize}} {
		t.Run(tc.name, func(t *testing.T) { ownCodeAllocatesNothing(t, srv, tc.key, tc.maxChunk) })
	}
}

func ownCodeAllocatesNothing(t *testing.T, srv *natsconn.Embedded, key []byte, maxChunk int) {
	tr := newTransport(t, dial(t, srv), Options{Run: "own", Lo: 0, Hi: 1, Buffers: 1, LocalOverNATS: true, Key: key, MaxChunkBytes: maxChunk})
	// Set before any end exists (hellos are answered on the client's goroutine).
	var intercept atomic.Pointer[func(subject string, frame []byte) error]
	tr.pub = func(subject string, frame []byte) error {
		if f := intercept.Load(); f != nil {
			return (*f)(subject, frame)
		}
		return tr.nc.Publish(subject, frame)
	}
	l, err := tr.Link(0, 4, 8, 4, 8)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// One real message, so that the first grant has arrived.
	require.NoError(t, send(ctx, l.UpSend, channels.Prediction, 0, channels.Full, 4, 8, make([]float64, 32)))
	m, err := l.UpRecv.Recv(ctx)
	require.NoError(t, err)
	l.UpRecv.Release(m)

	s, r := l.UpSend.(*sendEnd[float64]), l.UpRecv.(*recvEnd[float64])
	require.Eventually(t, func() bool { return len(s.credits) > 0 }, 10*time.Second, time.Millisecond)
	// A message's chunks are all delivered before Recv reads the first: one
	// pre-allocated message each (32 values make at most 5 chunks).
	var data [5]*nats.Msg
	for i := range data {
		data[i] = &nats.Msg{Subject: r.subject, Data: make([]byte, 0, headerSize+8*32+trailerSize)}
	}
	delivered := 0
	credit := &nats.Msg{Subject: r.creditSubject, Data: make([]byte, 0, headerSize+trailerSize)}
	deliver := func(subject string, frame []byte) error {
		switch subject {
		case r.subject:
			d := data[delivered%len(data)]
			delivered++
			d.Data = append(d.Data[:0], frame...)
			r.frames <- d
		case r.creditSubject:
			credit.Data = append(credit.Data[:0], frame...)
			s.credits <- credit
		default:
			return fmt.Errorf("unexpected publish on %s", subject)
		}
		return nil
	}
	intercept.Store(&deliver)
	var failed error
	step := 1
	allocs := testing.AllocsPerRun(1000, func() {
		payload := channels.Payloads()[step%3]
		b, err := s.Acquire(ctx, 4, 8)
		if err != nil {
			failed = err
			return
		}
		b.Data[0] = float64(step)
		if err := s.Send(ctx, channels.Message[float64]{Kind: channels.Prediction, Step: step, Payload: payload, Buf: b}); err != nil {
			failed = err
			return
		}
		m, err := r.Recv(ctx)
		if err != nil {
			failed = err
			return
		}
		if m.Step != step || m.Payload != payload || (payload == channels.Full && m.Buf.Data[0] != float64(step)) {
			failed = fmt.Errorf("step %d: got %v %v %v", step, m.Step, m.Payload, m.Buf.Data[0])
		}
		r.Release(m)
		step++
	})
	require.NoError(t, failed)
	require.Zero(t, allocs)
	require.Empty(t, tr.Rejects().Counts())
}
