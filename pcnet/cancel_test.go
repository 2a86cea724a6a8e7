package pcnet

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/pcnet/pcnet/layer"
	"github.com/stretchr/testify/require"
)

// cancelAt is a Recorder that, while armed, cancels the batch when node `node` reports
// step `step`, and then holds that node until wait returns (the parallel engine's batch
// context is done), so that the cancellation reaches the other nodes while this one
// still owes them its messages: the batch cannot end before it is cancelled.
type cancelAt struct {
	*Recorder
	node, step int
	// cancel and wait are set between batches by the test and read by the node's
	// goroutine during a batch; the engine's hand-offs order the two.
	cancel, wait func()
}

func (c *cancelAt) Node(info NodeInfo) NodeObserver {
	o := c.Recorder.Node(info)
	if info.Node != c.node {
		return o
	}
	return cancelNode{o, c}
}

type cancelNode struct {
	NodeObserver
	c *cancelAt
}

func (n cancelNode) Step(s StepStats) {
	n.NodeObserver.Step(s)
	if n.c.cancel != nil && s.Step == n.c.step {
		n.c.cancel()
		n.c.wait()
	}
}

// TestCancelledBatchLeavesTheNetworkAsItWas: a batch whose context is cancelled part way
// returns the context's error with a line that names a node, moves no weight and no
// optimiser state (Learn too: the layers learn only once every node has finished its
// inference), and leaves the network usable: the batches after it equal bit for bit,
// observer statistics included, those of a network that never saw it. Under Incremental
// the layers learn during inference, so a cancelled Learn keeps the steps it took: there
// the network need only go on.
func TestCancelledBatchLeavesTheNetworkAsItWas(t *testing.T) {
	const h = 3
	const T = h + 1
	sizes := []int{12, 7, 9, 6, 4}
	rng := rand.New(rand.NewPCG(17, 5))
	layers, err := layer.NewMLP[float64](sizes, layer.Tanh, rng)
	require.NoError(t, err)
	batches := randomBatches(rng, sizes[0], sizes[len(sizes)-1], 8, 5, 8, 8)
	start := netState{layers: layers}
	// Where the batch is cancelled: before the error has moved, in the middle, and (the
	// parallel engine only: the sequential one looks at the context before each step) at
	// the last step of node 1, when the nodes above it may have finished.
	type at struct{ node, step int }
	points := map[Engine][]at{Sequential: {{1, 0}, {h, T - 1}}, Parallel: {{1, 0}, {h, T - 1}, {1, T}}}
	for _, v := range Variants() {
		for _, eng := range engines {
			for _, learn := range []bool{false, true} {
				exact := !learn || v != Incremental
				for _, p := range points[eng] {
					t.Run(fmt.Sprintf("%s/%s/learn=%v/node=%d/step=%d", v, eng, learn, p.node, p.step), func(t *testing.T) {
						cfg := testConfig(v, h, T)
						cfg.Engine, cfg.Optimizer = eng, testAdam
						// The batches before and after the cancelled one, on a network that
						// never sees it.
						want := recordRun(t, cfg, start, []testBatch{batches[0], batches[2], batches[3]}, recording{learn: learn, observe: true})

						obs := &cancelAt{Recorder: &Recorder{}, node: p.node, step: p.step}
						cfg.Observer = obs
						net := start.newNetwork(t, cfg)
						defer func() { require.NoError(t, net.Close()) }()
						// A network left broken by the cancelled batch would hang the next: the
						// batches after it fail by this deadline instead.
						guard, stop := context.WithTimeout(context.Background(), time.Minute)
						defer stop()
						got := recordOn(guard, t, net, obs.Recorder, batches[:1], learn)

						ctx, cancel := context.WithCancel(context.Background())
						defer cancel()
						obs.cancel, obs.wait = cancel, func() {}
						if eng == Parallel {
							obs.wait = func() { <-net.eng.bctx.Done() }
						}
						run := net.Infer
						if learn {
							run = net.Learn
						}
						_, err := run(ctx, batches[1].x, batches[1].labels)
						obs.cancel = nil
						require.ErrorIs(t, err, context.Canceled)
						require.NotErrorIs(t, err, ErrClosed)
						require.Regexp(t, `^pcnet: batch cancelled (while|at step \d+, before) node \d+ .*: context canceled$`, err.Error())
						if !exact {
							_, err := run(guard, batches[2].x, batches[2].labels)
							require.NoError(t, err, "the batch after the cancelled one")
							return
						}
						requireSameBatch(t, 1, "the state before the cancelled batch", batchRecord{after: want[0].after},
							"the state after it", batchRecord{after: stateOf(net)})

						got = append(got, recordOn(guard, t, net, obs.Recorder, batches[2:], learn)...)
						requireSameBits(t, "a network that never saw the cancelled batch", want, "one that saw it", got)
					})
				}
			}
		}
	}
}

// TestBatchCancelledBeforeItStarts: a batch whose context is done already runs nothing and
// leaves the network usable.
func TestBatchCancelledBeforeItStarts(t *testing.T) {
	f := newFixture(2, 21)
	for _, eng := range engines {
		net, err := New(context.Background(), f.layers, Config{Variant: FixedPrediction, Steps: 2, Gamma: 1, Engine: eng})
		require.NoError(t, err)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err = net.Infer(ctx, f.x, f.labels)
		require.ErrorIs(t, err, context.Canceled, "%s", eng)
		require.EqualError(t, err, "pcnet: batch cancelled before it started: context canceled")
		_, err = net.Infer(batchCtx(t), f.x, f.labels)
		require.NoError(t, err, "%s", eng)
		require.NoError(t, net.Close())
	}
}

// TestNetworkContextEndsTheNetwork: the context given to New bounds the network's life:
// cancelled during a batch, it ends the batch and the network.
func TestNetworkContextEndsTheNetwork(t *testing.T) {
	f := newFixture(3, 22)
	life, end := context.WithCancel(context.Background())
	defer end()
	obs := &cancelAt{Recorder: &Recorder{}, node: 2, step: 1}
	net, err := New(life, f.layers, Config{Variant: Standard, Steps: 4, Gamma: 0.2, Observer: obs})
	require.NoError(t, err)
	obs.cancel, obs.wait = end, func() { <-net.eng.bctx.Done() }
	_, err = net.Infer(batchCtx(t), f.x, f.labels)
	require.ErrorIs(t, err, context.Canceled)
	obs.cancel = nil
	_, err = net.Infer(batchCtx(t), f.x, f.labels)
	require.ErrorIs(t, err, ErrClosed)
	_ = net.Close() // the goroutines are gone; Close says why they stopped
}
