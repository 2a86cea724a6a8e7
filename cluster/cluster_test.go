package cluster

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/pcnet/pcnet/channels"
	"github.com/pcnet/pcnet/cluster/natsconn"
	"github.com/pcnet/pcnet/layer"
	"github.com/pcnet/pcnet/optim"
	"github.com/pcnet/pcnet/pcnet"
	"github.com/pcnet/pcnet/tensor"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	if os.Getenv(testWorkerEnv) != "" {
		// Start's worker processes are this test binary: see TestStartLocalWorkers.
		os.Exit(testWorker(os.Args[1:]))
	}
	goleak.VerifyTestMain(m)
}

// testKey is the run key of the tests' runs.
var testKey = bytes.Repeat([]byte{7}, KeySize)

// unlimited is a receiver's limit that bounds nothing.
func unlimited() int64 { return 1 << 40 }

// recorder keeps every statistic an Observer is given, clocks left out, as lines.
type recorder struct {
	pcnet.Recorder
	infos map[int]pcnet.NodeInfo
	lines []string
}

func (r *recorder) Node(info pcnet.NodeInfo) pcnet.NodeObserver {
	if r.infos == nil {
		r.infos = map[int]pcnet.NodeInfo{}
	}
	r.infos[info.Node] = info
	return r.Recorder.Node(info)
}

// Batch turns what every node showed of the batch into lines, in node order.
func (r *recorder) Batch(s pcnet.BatchStats) {
	r.Recorder.Batch(s)
	for _, n := range r.Nodes() {
		for _, st := range n.Steps {
			r.lines = append(r.lines, fmt.Sprintf("node %d %+v step %d %#x %#x energy %#x", n.Node, r.infos[n.Node], st.Step,
				math.Float64bits(st.ErrorMaxAbs), math.Float64bits(st.ChangeMaxAbs), math.Float64bits(st.Energy)))
		}
		n.End.Compute, n.End.Wait = 0, 0
		r.lines = append(r.lines, fmt.Sprintf("node %d end %+v", n.Node, n.End))
	}
	r.lines = append(r.lines, fmt.Sprintf("batch %+v loss %#x", s, math.Float64bits(s.Loss)))
}

// byNode sorts a batch's lines into node order (the nodes of one process end in any
// order); Batch lines separate batches.
func byNode(lines []string) []string {
	var out, batch []string
	flush := func() {
		for l := 0; l < 64; l++ {
			prefix := fmt.Sprintf("node %d ", l)
			for _, s := range batch {
				if len(s) > len(prefix) && s[:len(prefix)] == prefix {
					out = append(out, s)
				}
			}
		}
		batch = nil
	}
	for _, s := range lines {
		if len(s) > 6 && s[:6] == "batch " {
			flush()
			out = append(out, s)
			continue
		}
		batch = append(batch, s)
	}
	flush()
	return out
}

// fixtureOf is a network and its batches in precision T.
type fixtureOf[T tensor.Float] struct {
	layers  []*layer.Dense[T]
	batches []struct {
		x      *tensor.Matrix[T]
		labels []int
	}
}

// fixture is the float64 one, as newFixture draws it.
type fixture = fixtureOf[float64]

// fixtureIn is f rounded to T: the same draws, as a run in T starts from them.
func fixtureIn[T tensor.Float](f *fixture) *fixtureOf[T] {
	out := &fixtureOf[T]{}
	for _, d := range f.layers {
		c, err := layer.NewDense[T](d.In(), d.Out(), d.Act)
		if err != nil {
			panic(err)
		}
		for i, p := range d.Params() {
			tensor.ConvertSlice(c.Params()[i], p)
		}
		out.layers = append(out.layers, c)
	}
	for _, b := range f.batches {
		x := tensor.New[T](b.x.Rows, b.x.Cols, nil)
		tensor.Convert(x, b.x)
		out.batches = append(out.batches, struct {
			x      *tensor.Matrix[T]
			labels []int
		}{x, b.labels})
	}
	return out
}

func newFixture(h int, seed uint64) *fixture {
	rng := rand.New(rand.NewPCG(seed, 1))
	sizes := []int{10}
	for range h {
		sizes = append(sizes, 4+rng.IntN(6))
	}
	sizes = append(sizes, 3)
	layers, err := layer.NewMLP[float64](sizes, layer.Tanh, rng)
	if err != nil {
		panic(err)
	}
	f := &fixture{layers: layers}
	for _, rows := range []int{8, 5, 8, 8} {
		x := tensor.New[float64](rows, sizes[0], nil)
		for i := range x.Data {
			x.Data[i] = rng.Float64()
		}
		labels := make([]int, rows)
		for i := range labels {
			labels[i] = rng.IntN(3)
		}
		f.batches = append(f.batches, struct {
			x      *tensor.Matrix[float64]
			labels []int
		}{x, labels})
	}
	return f
}

var adam = optim.Config{Kind: optim.Adam, LR: 0.01, Beta1: optim.DefaultBeta1, Beta2: optim.DefaultBeta2, Eps: optim.DefaultEps}

// outcome is what a run shows: the loss of every batch, theta and the optimiser states
// after it, and the observer's lines.
type outcome struct {
	losses []uint64
	params [][]float64
	obs    []string
}

// stateOf is theta and the optimiser states, widened to float64 (exactly: the bits of a
// float32 are in its widening).
func stateOf[T tensor.Float](layers []*layer.Dense[T], opt [][2]*optim.State[T]) [][]float64 {
	var out [][]float64
	widen := func(v []T) []float64 {
		w := make([]float64, len(v))
		tensor.ConvertSlice(w, v)
		return w
	}
	for l, d := range layers {
		p := d.Params()
		out = append(out, widen(p[0]), widen(p[1]))
		for _, st := range opt[l] {
			out = append(out, []float64{float64(st.Steps())})
			for _, name := range []string{"m", "v", "momentum"} {
				if b, ok := st.Buffers()[name]; ok {
					out = append(out, widen(b))
				}
			}
		}
	}
	return out
}

func requireSame(t *testing.T, want, got outcome) {
	t.Helper()
	require.Equal(t, want.losses, got.losses, "losses (bits)")
	require.Equal(t, len(want.params), len(got.params))
	for i := range want.params {
		require.Equal(t, len(want.params[i]), len(got.params[i]), "group %d", i)
		for j := range want.params[i] {
			if math.Float64bits(want.params[i][j]) != math.Float64bits(got.params[i][j]) {
				t.Fatalf("parameter group %d [%d]: one process %v, cluster %v", i, j, want.params[i][j], got.params[i][j])
			}
		}
	}
	require.Equal(t, byNode(want.obs), byNode(got.obs), "observer statistics")
}

// inProcess runs the fixture's batches through one pcnet.Network.
func inProcess[T tensor.Float](t *testing.T, f *fixtureOf[T], cfg pcnet.Config) outcome {
	obs := &recorder{}
	cfg.Observer = obs
	layers := layer.CloneAll(f.layers)
	net, err := pcnet.New(context.Background(), layers, cfg)
	require.NoError(t, err)
	defer net.Close()
	var out outcome
	for _, b := range f.batches {
		loss, err := net.Learn(batchCtx(t), b.x, b.labels)
		require.NoError(t, err)
		out.losses = append(out.losses, math.Float64bits(loss))
	}
	var opt [][2]*optim.State[T]
	for l := range layers {
		opt = append(opt, net.Optimizers(l))
	}
	out.params, out.obs = stateOf(layers, opt), obs.lines
	return out
}

// testCluster is an embedded server with workers serving in goroutines.
type testCluster struct {
	srv     *natsconn.Embedded
	run     string
	ranges  []Range
	conns   []*nats.Conn // one per worker
	cancels []context.CancelFunc
	errs    []chan error
}

func dial(t *testing.T, srv *natsconn.Embedded, name string) *nats.Conn {
	t.Helper()
	nc, err := natsconn.DialEmbedded(context.Background(), srv, name)
	require.NoError(t, err)
	return nc
}

func startCluster(t *testing.T, run string, ranges []Range, timeout time.Duration) *testCluster {
	t.Helper()
	srv, err := natsconn.Server{}.Start(context.Background())
	require.NoError(t, err)
	c := &testCluster{srv: srv, run: run, ranges: ranges}
	for _, r := range ranges {
		nc := dial(t, srv, "worker "+r.String())
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			done <- Serve(ctx, WorkerOptions{Conn: nc, Key: testKey, Run: run, Nodes: r, Timeout: timeout, JoinTimeout: 20 * time.Second})
		}()
		c.conns, c.cancels, c.errs = append(c.conns, nc), append(c.cancels, cancel), append(c.errs, done)
	}
	t.Cleanup(func() {
		for i := range c.conns {
			c.cancels[i]()
			<-c.errs[i]
			c.conns[i].Close()
		}
		srv.Shutdown()
	})
	return c
}

// wait returns the error worker i ended with.
func (c *testCluster) wait(t *testing.T, i int, within time.Duration) error {
	t.Helper()
	select {
	case err := <-c.errs[i]:
		c.errs[i] <- err // for the cleanup
		return err
	case <-time.After(within):
		t.Fatalf("worker %d still running after %v", i, within)
		return nil
	}
}

func (c *testCluster) coordinator(t *testing.T, f *fixture, cfg pcnet.Config, timeout time.Duration) (*Coordinator[float64], *nats.Conn) {
	t.Helper()
	return coordinatorIn(t, c, f, cfg, timeout, nil)
}

// coordinatorIn is c's coordinator in f's precision T; traffic (nil: none) is its
// Options.Traffic.
func coordinatorIn[T tensor.Float](t *testing.T, c *testCluster, f *fixtureOf[T], cfg pcnet.Config, timeout time.Duration, traffic func(channels.Traffic) error) (*Coordinator[T], *nats.Conn) {
	t.Helper()
	nc := dial(t, c.srv, "coordinator")
	co, err := NewCoordinator(batchCtx(t), Options{Conn: nc, Key: testKey, Run: c.run, Workers: c.ranges, Timeout: timeout, JoinTimeout: 20 * time.Second, Traffic: traffic}, layer.CloneAll(f.layers), cfg)
	require.NoError(t, err)
	return co, nc
}

// TestWorkersEqualOneProcessBitForBit: a network whose nodes live in 2 and 3 workers over
// NATS learns bit for bit as one pcnet.Network does, in float64 and in float32 (the
// workers take the precision from the setup): losses, theta and optimiser states, and
// every observer statistic replayed on the coordinator. The float32 run's links carry
// half the float64 run's payload bytes.
func TestWorkersEqualOneProcessBitForBit(t *testing.T) {
	f := newFixture(3, 7)
	bytes64 := map[string]uint64{}
	t.Run("f64", func(t *testing.T) { testWorkersEqualOneProcess(t, f, bytes64) })
	bytes32 := map[string]uint64{}
	t.Run("f32", func(t *testing.T) { testWorkersEqualOneProcess(t, fixtureIn[float32](f), bytes32) })
	require.Len(t, bytes32, 8)
	for run, b := range bytes64 {
		require.NotZero(t, b, run)
		require.Equal(t, b, 2*bytes32[run], "%s: payload bytes between the workers", run)
	}
}

// testWorkersEqualOneProcess runs the test in f's precision and records in payload the
// payload bytes the links between the workers carried, by variant and workers.
func testWorkersEqualOneProcess[T tensor.Float](t *testing.T, f *fixtureOf[T], payload map[string]uint64) {
	h := len(f.layers) - 1
	for _, v := range []pcnet.Variant{pcnet.FixedPrediction, pcnet.Standard, pcnet.ZeroDivergence, pcnet.Incremental} {
		cfg := pcnet.Config{Variant: v, Steps: h + 1, Gamma: 0.5, MaxBatch: 8, Optimizer: adam}
		if v == pcnet.ZeroDivergence {
			cfg.Gamma = 1
		}
		want := inProcess(t, f, cfg)
		for _, workers := range []int{2, 3} {
			t.Run(fmt.Sprintf("%v/workers=%d", v, workers), func(t *testing.T) {
				ranges, err := Split(h+2, workers)
				require.NoError(t, err)
				c := startCluster(t, fmt.Sprintf("t%d", workers), ranges, 2*time.Second)
				obs := &recorder{}
				cfg := cfg
				cfg.Observer = obs
				name := fmt.Sprintf("%v/workers=%d", v, workers)
				co, nc := coordinatorIn(t, c, f, cfg, 2*time.Second, func(tr channels.Traffic) error {
					payload[name] += tr.Bytes
					return nil
				})
				defer nc.Close()
				var got outcome
				for _, b := range f.batches {
					loss, err := co.Step(batchCtx(t), b.x, b.labels)
					require.NoError(t, err)
					got.losses = append(got.losses, math.Float64bits(loss))
				}
				require.NoError(t, co.Sync(batchCtx(t)))
				got.params, got.obs = stateOf(co.Layers(), co.Optimizers()), obs.lines
				require.NoError(t, co.Close())
				for i := range ranges {
					require.NoError(t, c.wait(t, i, 5*time.Second), "worker %d after Stop", i)
				}
				requireSame(t, want, got)
			})
		}
	}
}

// TestResumeWithFreshWorkers: a coordinator that restores theta and the optimiser states
// (as from a checkpoint) into fresh workers goes on exactly as the run that never stopped.
func TestResumeWithFreshWorkers(t *testing.T) {
	const h = 2
	f := newFixture(h, 3)
	cfg := pcnet.Config{Variant: pcnet.Standard, Steps: h + 1, Gamma: 0.3, MaxBatch: 8, Optimizer: adam}
	want := inProcess(t, f, cfg)
	ranges := []Range{{0, 1}, {2, 3}}

	c := startCluster(t, "first", ranges, 2*time.Second)
	co, nc := c.coordinator(t, f, cfg, 2*time.Second)
	var losses []uint64
	for _, b := range f.batches[:2] {
		loss, err := co.Step(batchCtx(t), b.x, b.labels)
		require.NoError(t, err)
		losses = append(losses, math.Float64bits(loss))
	}
	require.NoError(t, co.Sync(batchCtx(t)))
	saved := layer.CloneAll[float64](co.Layers())
	var savedOpt [][2]optSnapshot
	for _, o := range co.Optimizers() {
		savedOpt = append(savedOpt, [2]optSnapshot{snap(o[0]), snap(o[1])})
	}
	require.NoError(t, co.Close())
	nc.Close()

	c2 := startCluster(t, "second", ranges, 2*time.Second)
	nc2 := dial(t, c2.srv, "coordinator")
	defer nc2.Close()
	co2, err := NewCoordinator(batchCtx(t), Options{Conn: nc2, Key: testKey, Run: "second", Workers: ranges, Timeout: 2 * time.Second}, saved, cfg)
	require.NoError(t, err)
	defer co2.Close()
	for l, o := range co2.Optimizers() {
		for i := range o {
			require.NoError(t, o[i].Restore(savedOpt[l][i].steps, savedOpt[l][i].bufs))
		}
	}
	for _, b := range f.batches[2:] {
		loss, err := co2.Step(batchCtx(t), b.x, b.labels)
		require.NoError(t, err)
		losses = append(losses, math.Float64bits(loss))
	}
	require.NoError(t, co2.Sync(batchCtx(t)))
	require.Equal(t, want.losses, losses)
	requireSame(t, outcome{losses: want.losses, params: want.params}, outcome{losses: losses, params: stateOf(co2.Layers(), co2.Optimizers())})
}

type optSnapshot struct {
	steps int
	bufs  map[string][]float64
}

func snap(s *optim.State[float64]) optSnapshot { return optSnapshot{s.Steps(), s.Buffers()} }

// TestWorkerGoneStopsTheCoordinator: a worker that falls silent mid-run (its connection
// gone, as when its process is killed) stops the coordinator within the timeout with an
// error naming the worker and its nodes; a coordinator that falls silent makes the
// other workers exit within the timeout.
func TestWorkerGoneStopsTheCoordinator(t *testing.T) {
	const h, timeout = 2, 600 * time.Millisecond
	f := newFixture(h, 5)
	cfg := pcnet.Config{Variant: pcnet.Standard, Steps: h + 1, Gamma: 0.3, MaxBatch: 8, Optimizer: adam}
	ranges := []Range{{0, 1}, {2, 3}}
	c := startCluster(t, "gone", ranges, timeout)
	co, nc := c.coordinator(t, f, cfg, timeout)
	_, err := co.Step(batchCtx(t), f.batches[0].x, f.batches[0].labels)
	require.NoError(t, err)

	c.conns[1].Close() // the worker of nodes 2-3 is gone
	start := time.Now()
	_, err = co.Step(batchCtx(t), f.batches[1].x, f.batches[1].labels)
	require.ErrorContains(t, err, "the worker of nodes 2-3 (pid")
	require.ErrorContains(t, err, "sent no heartbeat")
	require.Less(t, time.Since(start), 3*timeout)
	_, err = co.Step(batchCtx(t), f.batches[1].x, f.batches[1].labels)
	require.ErrorContains(t, err, "nodes 2-3", "the coordinator stays stopped")

	// The coordinator's process dies without a word: the first worker, stuck in the
	// batch, exits within the timeout.
	nc.Close()
	err = c.wait(t, 0, 3*timeout)
	require.ErrorContains(t, err, "worker of nodes 0-1")
	require.ErrorContains(t, err, "no word from the coordinator")
	require.NoError(t, co.Close())
}

// TestServerGoneIsAClearError: the NATS server going away ends the coordinator and the
// workers with an error naming the lost connection.
func TestServerGoneIsAClearError(t *testing.T) {
	const h = 2
	f := newFixture(h, 5)
	cfg := pcnet.Config{Variant: pcnet.FixedPrediction, Steps: h, Gamma: 1, MaxBatch: 8, Optimizer: adam}
	ranges := []Range{{0, 1}, {2, 3}}
	c := startCluster(t, "server", ranges, 2*time.Second)
	co, nc := c.coordinator(t, f, cfg, 2*time.Second)
	defer nc.Close()
	_, err := co.Step(batchCtx(t), f.batches[0].x, f.batches[0].labels)
	require.NoError(t, err)
	c.srv.Shutdown()
	_, err = co.Step(batchCtx(t), f.batches[1].x, f.batches[1].labels)
	require.ErrorContains(t, err, "lost the connection to the NATS server")
	for i := range ranges {
		require.ErrorContains(t, c.wait(t, i, 5*time.Second), "lost the connection to the NATS server")
	}
	require.NoError(t, co.Close())
}

func TestSplitAndPlacement(t *testing.T) {
	r, err := Split(6, 4)
	require.NoError(t, err)
	require.Equal(t, []Range{{0, 1}, {2, 3}, {4, 4}, {5, 5}}, r)
	_, err = Split(3, 4)
	require.ErrorContains(t, err, "4 workers for 3 nodes")
	p, err := ParsePlacement("0-2, 3-5", 6)
	require.NoError(t, err)
	require.Equal(t, []Range{{0, 2}, {3, 5}}, p)
	for _, bad := range []string{"0-2,4-5", "0-2,2-5", "0-4", "1-5", "x", "3-1"} {
		_, err := ParsePlacement(bad, 6)
		require.Error(t, err, bad)
	}
}

// TestInferAndUpdatesPerVariant: one set of workers set up again for each variant infers
// the updates one pcnet.Network infers, bit for bit, as pcnet compare -workers needs.
func TestInferAndUpdatesPerVariant(t *testing.T) {
	const h = 3
	f := newFixture(h, 11)
	ranges := []Range{{0, 2}, {3, 4}}
	c := startCluster(t, "infer", ranges, 2*time.Second)
	b := f.batches[0]
	var co *Coordinator[float64]
	for _, v := range []pcnet.Variant{pcnet.FixedPrediction, pcnet.Standard, pcnet.ZeroDivergence, pcnet.Incremental} {
		cfg := pcnet.Config{Variant: v, Steps: h, Gamma: 1, MaxBatch: 8}
		net, err := pcnet.New(context.Background(), layer.CloneAll[float64](f.layers), cfg)
		require.NoError(t, err)
		wantLoss, err := net.Infer(batchCtx(t), b.x, b.labels)
		require.NoError(t, err)
		want := net.Updates()
		if co == nil {
			var nc *nats.Conn
			co, nc = c.coordinator(t, f, cfg, 2*time.Second)
			defer nc.Close()
			defer co.Close()
		} else {
			require.NoError(t, co.Configure(layer.CloneAll[float64](f.layers), cfg))
		}
		loss, err := co.Infer(batchCtx(t), b.x, b.labels)
		require.NoError(t, err)
		require.Equal(t, math.Float64bits(wantLoss), math.Float64bits(loss), "%v loss", v)
		got, err := co.Updates(batchCtx(t))
		require.NoError(t, err)
		require.Len(t, got, len(want))
		for l := range want {
			for i, p := range want[l].Params() {
				for j := range p {
					require.Equal(t, math.Float64bits(p[j]), math.Float64bits(got[l].Params()[i][j]), "%v: update %d of layer %d, param %d", v, j, l, i)
				}
			}
		}
		require.NoError(t, net.Close())
	}
}

// TestTwoRunsOnOneServer: two runs with the same node ranges on one server at once do not
// see each other's messages: each equals its own run in one process.
func TestTwoRunsOnOneServer(t *testing.T) {
	const h = 2
	srv, err := natsconn.Server{}.Start(context.Background())
	require.NoError(t, err)
	defer srv.Shutdown()
	ranges := []Range{{0, 1}, {2, 3}}
	var wg sync.WaitGroup
	for i, seed := range []uint64{1, 2} {
		f := newFixture(h, seed)
		cfg := pcnet.Config{Variant: pcnet.Standard, Steps: h, Gamma: 0.5, MaxBatch: 8, Optimizer: adam}
		want := inProcess(t, f, cfg)
		run := fmt.Sprintf("run%d", i)
		for _, r := range ranges {
			nc := dial(t, srv, run+" worker")
			wg.Go(func() {
				defer nc.Close()
				if err := Serve(context.Background(), WorkerOptions{Conn: nc, Key: testKey, Run: run, Nodes: r, Timeout: 2 * time.Second}); err != nil {
					t.Errorf("%s worker %v: %v", run, r, err)
				}
			})
		}
		nc := dial(t, srv, run+" coordinator")
		defer nc.Close()
		co, err := NewCoordinator(batchCtx(t), Options{Conn: nc, Key: testKey, Run: run, Workers: ranges, Timeout: 2 * time.Second}, layer.CloneAll[float64](f.layers), cfg)
		require.NoError(t, err)
		// One context per batch and one for the Sync, made here, not in the goroutine:
		// batchCtx may fail the test.
		ctxs := make([]context.Context, len(f.batches)+1)
		for i := range ctxs {
			ctxs[i] = batchCtx(t)
		}
		wg.Go(func() {
			defer co.Close()
			var got outcome
			for i, b := range f.batches {
				loss, err := co.Step(ctxs[i], b.x, b.labels)
				if err != nil {
					t.Errorf("%s: %v", run, err)
					return
				}
				got.losses = append(got.losses, math.Float64bits(loss))
			}
			if err := co.Sync(ctxs[len(f.batches)]); err != nil {
				t.Errorf("%s: %v", run, err)
				return
			}
			got.params = stateOf(co.Layers(), co.Optimizers())
			if fmt.Sprint(got.losses, got.params) != fmt.Sprint(want.losses, want.params) {
				t.Errorf("%s differs from its run in one process", run)
			}
		})
	}
	wg.Wait()
}
