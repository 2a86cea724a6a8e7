package pcnet

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pcnet/pcnet/backprop"
	"github.com/pcnet/pcnet/graph"
	"github.com/pcnet/pcnet/layer"
	"github.com/pcnet/pcnet/optim"
	"github.com/pcnet/pcnet/tensor"
)

// graphShape is a network on a layer graph (docs/design.md §11): Dense maps on a chain
// graph, or pre-activation maps (chain or residual) under a parameterisation, with long
// skips.
type graphShape struct {
	name   string
	widths []int
	shape  graph.Shape
	skips  string
	dense  bool
	param  layer.Param
	act    layer.Activation
}

// graphShapes: the chain, residual networks under both parameterisations, and long-skip
// graphs with a skip from the input, skips into the output, two skips into one node,
// §11's 1:5, 4:9 graph, whose moralised edge 1 - 4 (the two parents of node 5) makes Eta
// differ from the undirected distance, §11's table (H = 9, skips 1:5, 3:8), and a skip
// over a narrower node (its link's buffers have its ends' width, not the next node's).
var graphShapes = []graphShape{
	{"chain", []int{6, 5, 7, 4, 3}, graph.Chain, "", true, 0, layer.Tanh},
	{"residual-standard", []int{6, 5, 5, 5, 5, 3}, graph.Residual, "", false, layer.Standard, layer.Tanh},
	{"residual-mupc", []int{6, 8, 8, 8, 8, 3}, graph.Residual, "", false, layer.MuPC, layer.ReLU},
	{"skips-from-input", []int{5, 5, 5, 5, 5, 3}, graph.Chain, "0:2,1:3,1:4", true, 0, layer.Tanh},
	{"skips-into-output", []int{4, 4, 4, 4, 4, 4}, graph.Chain, "1:5,2:4,3:5", true, 0, layer.Sigmoid},
	{"skips-1:5-4:9", []int{5, 4, 4, 4, 4, 4, 4, 4, 4, 4, 3}, graph.Chain, "1:5,4:9", true, 0, layer.Tanh},
	{"residual-mupc-skips", []int{5, 5, 5, 5, 5, 5, 5, 4}, graph.Residual, "0:3,1:4,3:6", false, layer.MuPC, layer.Tanh},
	{"skips-1:5-3:8", []int{6, 4, 4, 4, 4, 4, 4, 4, 4, 4, 3}, graph.Chain, "1:5,3:8", true, 0, layer.Tanh},
	{"skip-over-narrow", []int{6, 7, 3, 7, 5, 3}, graph.Chain, "1:3", true, 0, layer.Tanh},
}

// designEta is §11's table for H = 9 with the skips 1:5 and 3:8: eta_v where the
// predictions move and under FPA-PC, nodes 1..9.
var designEta = map[string][]int{
	"moving": {5, 4, 3, 3, 4, 4, 3, 2, 1},
	"fixed":  {5, 4, 3, 6, 5, 4, 3, 2, 1},
}

// hasSkips reports whether the shape has long skips (Z-IL refuses those).
func (c graphShape) hasSkips() bool { return c.skips != "" }

// build returns the graph and the maps of c in precision T, the weights drawn from seed:
// two calls with one seed give two networks with the same weights.
func (c graphShape) build(t *testing.T, seed uint64) (*graph.Graph, []layer.Map[float64]) {
	return buildShape[float64](t, c, seed)
}

func buildShape[T tensor.Float](t *testing.T, c graphShape, seed uint64) (*graph.Graph, []layer.Map[T]) {
	t.Helper()
	skips, err := graph.ParseSkips(c.skips)
	require.NoError(t, err)
	g, err := graph.New(c.widths, c.shape, skips)
	require.NoError(t, err)
	rng := rand.New(rand.NewPCG(seed, 7))
	var maps []layer.Map[T]
	if c.dense {
		layers, err := layer.NewMLP[T](c.widths, c.act, rng)
		require.NoError(t, err)
		maps = layer.AsMaps(layers)
	} else {
		pre, err := layer.NewPreActNet[T](c.widths, c.act, c.param, c.shape == graph.Residual, rng)
		require.NoError(t, err)
		maps = layer.AsMaps(pre)
	}
	return g, maps
}

// graphBatch draws a batch of rows for c in precision T.
func graphBatch[T tensor.Float](c graphShape, seed uint64, rows int) (*tensor.Matrix[T], []int) {
	rng := rand.New(rand.NewPCG(seed, 11))
	x := tensor.New[T](rows, c.widths[0], nil)
	for i := range x.Data {
		x.Data[i] = T(rng.Float64())
	}
	y := make([]int, rows)
	for i := range y {
		y[i] = rng.IntN(c.widths[len(c.widths)-1])
	}
	return x, y
}

// graphRun is one network's run of a few batches: its updates and weights after each
// batch and its recorder's reports of the last.
type graphRun[T tensor.Float] struct {
	updates [][][2][]T // batch, map, weight/bias
	weights [][][2][]T
	reports []NodeReport
}

func paramsOf[T tensor.Float](ps func(int) [2][]T, n int) [][2][]T {
	out := make([][2][]T, n)
	for l := range n {
		p := ps(l)
		out[l] = [2][]T{append([]T(nil), p[0]...), append([]T(nil), p[1]...)}
	}
	return out
}

// runGraph builds c's network from seed under cfg and learns batches on it.
func runGraph[T tensor.Float](t *testing.T, c graphShape, cfg Config, seed uint64, batches int) graphRun[T] {
	t.Helper()
	g, maps := buildShape[T](t, c, seed)
	rec := &Recorder{}
	cfg.Observer = rec
	net, err := NewGraph(context.Background(), g, maps, cfg)
	require.NoError(t, err)
	defer func() { require.NoError(t, net.Close()) }()
	var run graphRun[T]
	for b := range batches {
		x, y := graphBatch[T](c, seed+uint64(b), 5)
		_, err := net.Learn(batchCtx(t), x, y)
		require.NoError(t, err)
		run.updates = append(run.updates, paramsOf(func(l int) [2][]T { return net.Updates()[l].Params() }, len(maps)))
		run.weights = append(run.weights, paramsOf(func(l int) [2][]T { return maps[l].Params() }, len(maps)))
	}
	run.reports = rec.Nodes()
	return run
}

// bits returns the bit patterns of v, so that require.Equal tells -0 from +0 and compares
// NaNs.
func bits[T tensor.Float](v [][][2][]T) [][][2][]uint64 {
	out := make([][][2][]uint64, len(v))
	for b, maps := range v {
		out[b] = make([][2][]uint64, len(maps))
		for l, ps := range maps {
			for i, p := range ps {
				for _, x := range p {
					out[b][l][i] = append(out[b][l][i], math.Float64bits(float64(x)))
				}
			}
		}
	}
	return out
}

// TestGraphFixedPredictionIsBackprop: FPA-PC with gamma 1 and T = LongestPath(1) (= H)
// learns GraphNet's weights bit for bit over three batches on every shape, in both
// precisions, on both engines and schedules, under the mean NLL and the per-sample
// losses, whose output error has no 1/B and whose updates take layer.UpdateScale
// (docs/design.md §11): its updates are the negated gradients. T beyond the longest path
// (H + 3, float64) changes no bit: every error is final from its longest path on.
func TestGraphFixedPredictionIsBackprop(t *testing.T) {
	for _, c := range graphShapes {
		for _, loss := range []layer.Loss{layer.NLL{}, layer.SampleCrossEntropy{}, layer.SampleSquaredError{}} {
			for _, eng := range engines {
				for _, sched := range []Schedule{Dense, Event} {
					name := fmt.Sprintf("%s/%s/%v/%v", c.name, loss.Name(), eng, sched)
					t.Run(name+"/f64", func(t *testing.T) { checkBackprop[float64](t, c, loss, eng, sched, 0) })
					t.Run(name+"/f32", func(t *testing.T) { checkBackprop[float32](t, c, loss, eng, sched, 0) })
					t.Run(name+"/f64/T=H+3", func(t *testing.T) { checkBackprop[float64](t, c, loss, eng, sched, 3) })
				}
			}
		}
	}
}

// checkBackprop runs FPA-PC with gamma 1 and T = LongestPath(1) + extra against GraphNet.
func checkBackprop[T tensor.Float](t *testing.T, c graphShape, loss layer.Loss, eng Engine, sched Schedule, extra int) {
	const seed, batches, lr = 3, 3, 0.5
	g, _ := buildShape[T](t, c, seed)
	sgd := optim.Config{Kind: optim.SGD, LR: lr}
	cfg := Config{Variant: FixedPrediction, Steps: g.LongestPath(1) + extra, Gamma: 1, Loss: loss, Engine: eng, Schedule: sched, Optimizer: sgd}
	pc := runGraph[T](t, c, cfg, seed, batches)

	_, maps := buildShape[T](t, c, seed)
	bp, err := backprop.NewGraph(g, maps, loss)
	require.NoError(t, err)
	grads := bp.NewGrads()
	opts := make([][2]*optim.State[T], len(maps))
	for l, m := range maps {
		opts[l] = [2]*optim.State[T]{optim.NewState[T](sgd, len(m.Params()[0])), optim.NewState[T](sgd, len(m.Params()[1]))}
	}
	var neg, weights [][][2][]T
	for b := range batches {
		x, y := graphBatch[T](c, seed+uint64(b), 5)
		bp.Gradients(grads, x, y)
		neg = append(neg, paramsOf(func(l int) [2][]T { return grads[l].Params() }, len(maps)))
		for _, ps := range neg[b] {
			for _, p := range ps {
				for i := range p {
					p[i] = -p[i]
				}
			}
		}
		for l, m := range maps {
			for i, p := range m.Params() {
				opts[l][i].Step(p, grads[l].Params()[i])
			}
		}
		weights = append(weights, paramsOf(func(l int) [2][]T { return maps[l].Params() }, len(maps)))
	}
	// Values, not bits, for the updates: -(a + b) and (-a) + (-b) differ in the sign of a
	// zero sum only. The weights must agree bit for bit.
	require.Equal(t, neg, pc.updates, "updates against the negated gradients")
	require.Equal(t, bits(weights), bits(pc.weights), "weights after each batch")
}

// graphVariants are the variants and step sizes the engines and schedules must agree on.
var graphVariants = []struct {
	v     Variant
	gamma float64
}{
	{FixedPrediction, 1}, {FixedPrediction, 0.5}, {Standard, 0.3}, {VarianceScaled, 0.5}, {ZeroDivergence, 1}, {Incremental, 0.2},
}

// TestGraphEnginesAndSchedulesAgree: on every shape, every variant the graph supports
// gives the same updates, weights and observed steps bit for bit on both engines and
// both schedules, in both precisions.
func TestGraphEnginesAndSchedulesAgree(t *testing.T) {
	for _, c := range graphShapes {
		for _, gv := range graphVariants {
			if c.hasSkips() && gv.v == ZeroDivergence {
				continue
			}
			t.Run(fmt.Sprintf("%s/%v/gamma=%v/f64", c.name, gv.v, gv.gamma), func(t *testing.T) {
				checkAgree[float64](t, c, gv.v, gv.gamma)
			})
			t.Run(fmt.Sprintf("%s/%v/gamma=%v/f32", c.name, gv.v, gv.gamma), func(t *testing.T) {
				checkAgree[float32](t, c, gv.v, gv.gamma)
			})
		}
	}
}

func checkAgree[T tensor.Float](t *testing.T, c graphShape, v Variant, gamma float64) {
	h := len(c.widths) - 2
	cfg := Config{Variant: v, Steps: h + 2, Gamma: gamma, K: 4, Optimizer: optim.DefaultAdam(0.01)}
	var ref graphRun[T]
	for i, eng := range engines {
		for j, sched := range []Schedule{Dense, Event} {
			cfg.Engine, cfg.Schedule = eng, sched
			run := runGraph[T](t, c, cfg, 9, 2)
			if i == 0 && j == 0 {
				ref = run
				continue
			}
			require.Equal(t, bits(ref.updates), bits(run.updates), "%v %v: updates", eng, sched)
			require.Equal(t, bits(ref.weights), bits(run.weights), "%v %v: weights", eng, sched)
			for n, r := range run.reports {
				require.Equal(t, ref.reports[n].Steps, r.Steps, "%v %v: node %d's steps", eng, sched, r.Node)
				e, re := r.End, ref.reports[n].End
				require.Equal(t, re.VJPs+re.SkippedVJPs, e.VJPs+e.SkippedVJPs, "%v %v: node %d's products", eng, sched, r.Node)
			}
		}
	}
}

// TestGraphRefusesWhatItDoesNotRun: Z-IL on a graph with long skips, and maps that are
// not the graph's, are one error each; iPC runs there.
func TestGraphRefusesWhatItDoesNotRun(t *testing.T) {
	c := graphShapes[3] // skips from the input
	g, maps := c.build(t, 1)
	_, err := NewGraph(context.Background(), g, maps, Config{Variant: ZeroDivergence, Steps: 3, Gamma: 1})
	var fe *FieldError
	require.ErrorAs(t, err, &fe)
	require.Equal(t, "variant", fe.Field)
	require.Contains(t, err.Error(), "without long skips")
	net, err := NewGraph(context.Background(), g, maps, Config{Variant: Incremental, Steps: 3, Gamma: 1})
	require.NoError(t, err)
	require.NoError(t, net.Close())
	_, err = NewGraph(context.Background(), g, maps[1:], Config{Variant: FixedPrediction, Steps: 3, Gamma: 1})
	require.ErrorContains(t, err, "maps for")
	rg, rmaps := graphShapes[1].build(t, 1) // residual: maps 1..H-1 carry the identity skip
	_, err = NewGraph(context.Background(), rg, rmaps[:1], Config{Variant: FixedPrediction, Steps: 3, Gamma: 1})
	require.Error(t, err)
	chain, err := graph.New(rg.Widths(), graph.Chain, nil)
	require.NoError(t, err)
	_, err = NewGraph(context.Background(), chain, rmaps, Config{Variant: FixedPrediction, Steps: 3, Gamma: 1})
	require.ErrorContains(t, err, "identity skip")
}

// infoRecorder is a Recorder that keeps the NodeInfo of every node too.
type infoRecorder struct {
	Recorder
	infos map[int]NodeInfo
}

func (r *infoRecorder) Node(info NodeInfo) NodeObserver {
	if r.infos == nil {
		r.infos = map[int]NodeInfo{}
	}
	r.infos[info.Node] = info
	return r.Recorder.Node(info)
}

// TestGraphTheorem1ByGraphDistance: the error of every hidden node is exactly zero before
// the step the rule of docs/design.md §11 gives (EtaFixed under FPA-PC, Eta where the
// predictions move) and non-zero at it, on chains, residual networks and the long-skip
// graphs, over several batches of one network (an error left from the last batch would
// show), for every variant that runs on the graph: iPC under plain SGD, where Theorem 1
// holds for it (§8); NodeInfo's Distance is that step, and its Final the longest path.
// On §11's table graph the rule's values are the table's.
func TestGraphTheorem1ByGraphDistance(t *testing.T) {
	for _, c := range graphShapes {
		for _, gv := range graphVariants {
			if c.hasSkips() && gv.v == ZeroDivergence {
				continue
			}
			for _, eng := range engines {
				t.Run(fmt.Sprintf("%s/%v/gamma=%v/%v", c.name, gv.v, gv.gamma, eng), func(t *testing.T) {
					checkTheorem1(t, c, gv.v, gv.gamma, eng)
				})
			}
		}
	}
}

func checkTheorem1(t *testing.T, c graphShape, v Variant, gamma float64, eng Engine) {
	g, maps := c.build(t, 5)
	h := g.H()
	rec := &infoRecorder{}
	opt := optim.DefaultAdam(0.01)
	if v == Incremental {
		opt = optim.Config{Kind: optim.SGD, LR: 0.05} // with momentum or Adam the lower weights drift first (§8)
	}
	cfg := Config{Variant: v, Steps: h + 2, Gamma: gamma, K: 4, Engine: eng, Observer: rec, Optimizer: opt}
	net, err := NewGraph(context.Background(), g, maps, cfg)
	require.NoError(t, err)
	defer func() { require.NoError(t, net.Close()) }()
	for b := range 3 {
		x, y := graphBatch[float64](c, uint64(20+b), 4)
		_, err := net.Learn(batchCtx(t), x, y)
		require.NoError(t, err)
		for _, r := range rec.Nodes() {
			v := r.Node
			if v < 1 || v > h {
				continue
			}
			want := g.Eta(v)
			table := designEta["moving"]
			if cfg.Variant == FixedPrediction {
				want, table = g.EtaFixed(v), designEta["fixed"]
			}
			if c.name == "skips-1:5-3:8" {
				require.Equal(t, table[v-1], want, "node %d: §11's table", v)
			}
			info := rec.infos[v]
			require.Equal(t, want, info.Distance, "node %d's NodeInfo distance", v)
			require.Equal(t, g.LongestPath(v), info.Final, "node %d's NodeInfo final step", v)
			require.Equal(t, want, firstMove(r.Steps), "batch %d: node %d's first non-zero step", b, v)
		}
	}
}

// firstMove returns the first step whose error is not zero, -1 if none.
func firstMove(steps []StepStats) int {
	for _, s := range steps {
		if s.ErrorMaxAbs != 0 {
			return s.Step
		}
	}
	return -1
}

// TestGraphEventScheduleCountsByPathLength: under FPA-PC with gamma 1 the event schedule
// computes node l's input VJP once per path length of e_{l+1} below T (the steps at which
// that error takes a new value, graph.Graph.PathLengths) and its weight VJP once if
// e_{l+1} is not zero at T, and skips every other product: 2H+1 on a chain with T >= H.
func TestGraphEventScheduleCountsByPathLength(t *testing.T) {
	for _, c := range graphShapes {
		g, _ := c.build(t, 1)
		for _, steps := range []int{2, g.LongestPath(1), g.H() + 2} {
			t.Run(fmt.Sprintf("%s/T=%d", c.name, steps), func(t *testing.T) {
				cfg := Config{Variant: FixedPrediction, Steps: steps, Gamma: 1, Schedule: Event, Engine: Sequential, Optimizer: optim.DefaultAdam(0.01)}
				run := runGraph[float64](t, c, cfg, 4, 2)
				for _, r := range run.reports {
					l := r.Node
					if l > g.H() {
						continue
					}
					want := 0
					if l > 0 {
						for _, k := range g.PathLengths(l + 1) {
							if k < steps {
								want++
							}
						}
					}
					if steps >= g.EtaFixed(l+1) {
						want++
					}
					require.Equal(t, want, r.End.VJPs, "node %d: products computed", l)
					dense := 1
					if l > 0 {
						dense += steps
					}
					require.Equal(t, dense, r.End.VJPs+r.End.SkippedVJPs, "node %d: products computed and skipped", l)
				}
			})
		}
	}
}

// TestGraphCancelledBatchLeavesTheNetworkAsItWas: on a graph with long skips, a batch
// cancelled part way on the parallel engine (whose skip links are made afresh with the
// chain's) leaves the network computing what one that never saw it computes, bit for bit.
func TestGraphCancelledBatchLeavesTheNetworkAsItWas(t *testing.T) {
	for _, c := range graphShapes {
		if !c.hasSkips() {
			continue
		}
		for _, v := range []Variant{FixedPrediction, Standard} {
			t.Run(fmt.Sprintf("%s/%v", c.name, v), func(t *testing.T) {
				cfg := Config{Variant: v, Steps: len(c.widths), Gamma: 0.5, Engine: Parallel, Optimizer: optim.DefaultAdam(0.01)}
				learn := func(net *Network[float64], ctx context.Context, b uint64) error {
					x, y := graphBatch[float64](c, b, 4)
					_, err := net.Learn(ctx, x, y)
					return err
				}
				g, maps := c.build(t, 8)
				want, err := NewGraph(context.Background(), g, maps, cfg)
				require.NoError(t, err)
				defer func() { require.NoError(t, want.Close()) }()
				require.NoError(t, learn(want, batchCtx(t), 1))
				require.NoError(t, learn(want, batchCtx(t), 3))

				obs := &cancelAt{Recorder: &Recorder{}, node: 2, step: 1}
				cfg.Observer = obs
				_, gotMaps := c.build(t, 8)
				got, err := NewGraph(context.Background(), g, gotMaps, cfg)
				require.NoError(t, err)
				defer func() { require.NoError(t, got.Close()) }()
				require.NoError(t, learn(got, batchCtx(t), 1))
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				obs.cancel, obs.wait = cancel, func() { <-got.eng.bctx.Done() }
				require.ErrorIs(t, learn(got, ctx, 2), context.Canceled)
				obs.cancel = nil
				require.NoError(t, learn(got, batchCtx(t), 3))
				for l := range maps {
					require.Equal(t, bits([][][2][]float64{{maps[l].Params()}}), bits([][][2][]float64{{gotMaps[l].Params()}}), "map %d", l)
					require.Equal(t, bits([][][2][]float64{{want.Updates()[l].Params()}}), bits([][][2][]float64{{got.Updates()[l].Params()}}), "update %d", l)
				}
			})
		}
	}
}

// TestGraphLearnAllocatesNothingAfterWarmUp: on graphs with long skips too, under iPC
// too, an update allocates nothing of its own once the network has seen the batch size, on either
// engine (see TestLearnAllocatesNothingAfterWarmUp for the runtime's own allocations).
func TestGraphLearnAllocatesNothingAfterWarmUp(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	runtime.GOMAXPROCS(2)
	defer func(rate int) { runtime.MemProfileRate = rate }(runtime.MemProfileRate)
	runtime.MemProfileRate = 1
	for _, c := range graphShapes[3:] {
		for _, v := range []Variant{FixedPrediction, Standard, Incremental} {
			for _, eng := range engines {
				t.Run(fmt.Sprintf("%s/%v/%v", c.name, v, eng), func(t *testing.T) {
					g, maps := c.build(t, 2)
					cfg := Config{Variant: v, Steps: g.H(), Gamma: 0.5, Engine: eng, Optimizer: optim.DefaultAdam(0.001)}
					net, err := NewGraph(context.Background(), g, maps, cfg)
					require.NoError(t, err)
					defer func() { require.NoError(t, net.Close()) }()
					x, y := graphBatch[float64](c, 1, 8)
					ctx := batchCtx(t)
					learn := func() {
						if _, err := net.Learn(ctx, x, y); err != nil {
							t.Fatal(err)
						}
					}
					for range 3 {
						learn()
					}
					const updates = 100
					total, own := allocationsOf(func() {
						for range updates {
							learn()
						}
					})
					require.Empty(t, own, "allocations of the update's own in %d updates", updates)
					require.LessOrEqual(t, total, uint64(maxRuntimeAllocations), "allocations in %d updates", updates)
				})
			}
		}
	}
}
