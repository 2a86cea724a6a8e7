package pcnet

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"

	"github.com/pcnet/pcnet/backprop"
	"github.com/pcnet/pcnet/channels"
	"github.com/pcnet/pcnet/layer"
	"github.com/pcnet/pcnet/optim"
	"github.com/pcnet/pcnet/tensor"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"gonum.org/v1/gonum/floats"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var engines = []Engine{Sequential, Parallel}

// fixture is a random network with uneven widths and one batch.
type fixture struct {
	sizes  []int
	layers []*layer.Dense[float64]
	x      *tensor.Matrix[float64]
	labels []int
}

func newFixture(h int, seed uint64) *fixture { return newBatchFixture(h, seed, 6) }

// newBatchFixture is newFixture with the given batch size.
func newBatchFixture(h int, seed uint64, batch int) *fixture {
	rng := rand.New(rand.NewPCG(seed, uint64(h)))
	sizes := []int{12}
	for range h {
		sizes = append(sizes, 5+rng.IntN(8))
	}
	sizes = append(sizes, 4)
	layers, err := layer.NewMLP[float64](sizes, layer.Tanh, rng)
	if err != nil {
		panic(err)
	}
	x := tensor.New[float64](batch, sizes[0], nil)
	for i := range x.Data {
		x.Data[i] = rng.Float64()
	}
	labels := make([]int, batch)
	for i := range labels {
		labels[i] = rng.IntN(4)
	}
	return &fixture{sizes: sizes, layers: layers, x: x, labels: labels}
}

// bpUpdates returns -dE/dtheta of every layer: BP's weight update in PC's sign.
func (f *fixture) bpUpdates(t *testing.T) []*layer.Grad[float64] {
	net, err := backprop.New(layer.CloneAll[float64](f.layers), layer.NLL{})
	require.NoError(t, err)
	grads := make([]*layer.Grad[float64], len(f.layers))
	for l, d := range f.layers {
		grads[l] = layer.NewGrad(d)
	}
	net.Gradients(grads, f.x, f.labels)
	for _, g := range grads {
		g.Scale(-1)
	}
	return grads
}

// infer runs one inference on a fresh network over a copy of the fixture's layers and
// returns copies of the updates.
func (f *fixture) infer(t *testing.T, cfg Config) []*layer.Grad[float64] {
	t.Helper()
	net, err := New(context.Background(), layer.CloneAll[float64](f.layers), cfg)
	require.NoError(t, err)
	defer func() { require.NoError(t, net.Close()) }()
	_, err = net.Infer(batchCtx(t), f.x, f.labels)
	require.NoError(t, err)
	out := make([]*layer.Grad[float64], len(f.layers))
	for l, g := range net.Updates() {
		out[l] = layer.NewGrad(f.layers[l])
		out[l].CopyFrom(g)
	}
	return out
}

func flat(g *layer.Grad[float64]) []float64 {
	p := g.Params()
	return append(append([]float64{}, p[0]...), p[1]...)
}

func relErr(got, want *layer.Grad[float64]) float64 {
	a, b := flat(got), flat(want)
	d := make([]float64, len(a))
	floats.SubTo(d, a, b)
	return floats.Norm(d, 2) / floats.Norm(b, 2)
}

// totalRelErr is the relative error over all layers concatenated.
func totalRelErr(got, want []*layer.Grad[float64]) float64 {
	var a, b []float64
	for l := range got {
		a, b = append(a, flat(got[l])...), append(b, flat(want[l])...)
	}
	d := make([]float64, len(a))
	floats.SubTo(d, a, b)
	return floats.Norm(d, 2) / floats.Norm(b, 2)
}

var depths = []int{1, 2, 4, 8}

func TestFixedPredictionWithUnitStepEqualsBackprop(t *testing.T) {
	for _, h := range depths {
		for _, extra := range []int{0, 3} {
			for _, eng := range engines {
				t.Run(fmt.Sprintf("H=%d/T=H+%d/%s", h, extra, eng), func(t *testing.T) {
					f := newFixture(h, 1)
					bp := f.bpUpdates(t)
					got := f.infer(t, Config{Variant: FixedPrediction, Steps: h + extra, Gamma: 1, Engine: eng})
					for l := range bp {
						require.Less(t, relErr(got[l], bp[l]), 1e-10, "layer %d", l)
					}
				})
			}
		}
	}
}

func TestZeroDivergenceEqualsBackprop(t *testing.T) {
	for _, h := range depths {
		for _, eng := range engines {
			t.Run(fmt.Sprintf("H=%d/%s", h, eng), func(t *testing.T) {
				f := newFixture(h, 2)
				bp := f.bpUpdates(t)
				got := f.infer(t, Config{Variant: ZeroDivergence, Steps: h, Gamma: 1, Engine: eng})
				for l := range bp {
					require.Less(t, relErr(got[l], bp[l]), 1e-10, "layer %d", l)
				}
			})
		}
	}
}

func TestFixedPredictionWithSmallStepsApproachesBackprop(t *testing.T) {
	for _, h := range depths {
		for _, gamma := range []float64{0.1, 0.5} {
			t.Run(fmt.Sprintf("H=%d/gamma=%v", h, gamma), func(t *testing.T) {
				f := newFixture(h, 3)
				bp := f.bpUpdates(t)
				prev := math.Inf(1)
				for _, mult := range []int{1, 2, 4, 8} {
					got := f.infer(t, Config{Variant: FixedPrediction, Steps: mult * h, Gamma: gamma, Engine: Sequential})
					d := totalRelErr(got, bp)
					if mult == 1 {
						require.Greater(t, d, 1e-3, "FPA with gamma < 1 is not BP at T = H")
					}
					require.Less(t, d, prev, "T = %d·H", mult)
					prev = d
				}
			})
		}
	}
}

func TestStandardDiffersFromBackprop(t *testing.T) {
	for _, h := range depths {
		t.Run(fmt.Sprintf("H=%d", h), func(t *testing.T) {
			f := newFixture(h, 4)
			bp := f.bpUpdates(t)
			std := f.infer(t, Config{Variant: Standard, Steps: 400, Gamma: 0.2, Engine: Sequential})
			require.Greater(t, totalRelErr(std, bp), 1e-6)
		})
	}
}

// mnistShaped is a 784-[64]xH-10 network at PyTorch's initialisation with a batch of 64
// sparse inputs in [0, 1]: the setting of the paper's experiments, without the data.
func mnistShaped(h int, seed uint64) *fixture {
	rng := rand.New(rand.NewPCG(seed, 9))
	sizes := []int{784}
	for range h {
		sizes = append(sizes, 64)
	}
	sizes = append(sizes, 10)
	layers, err := layer.NewMLP[float64](sizes, layer.Tanh, rng)
	if err != nil {
		panic(err)
	}
	x := tensor.New[float64](64, 784, nil)
	for i := range x.Data {
		if rng.IntN(5) == 0 {
			x.Data[i] = rng.Float64()
		}
	}
	labels := make([]int, 64)
	for i := range labels {
		labels[i] = rng.IntN(10)
	}
	return &fixture{sizes: sizes, layers: layers, x: x, labels: labels}
}

func TestVarianceScalingApproachesBackprop(t *testing.T) {
	if raceEnabled {
		// A numerical test on the sequential engine: nothing for the race detector to see,
		// and 12 inferences of 600 steps on 784-wide batches take about a minute under it,
		// half of go test's -timeout 120s of test.sh. The run without -race keeps it.
		t.Skip("numerical, on the sequential engine; run without -race")
	}
	for _, h := range []int{2, 4, 8} {
		t.Run(fmt.Sprintf("H=%d", h), func(t *testing.T) {
			f := mnistShaped(h, 1)
			bp := f.bpUpdates(t)
			prev := math.Inf(1)
			// 600 steps of gamma/k converge at H = 8 (the gap stops changing by 300 at H <= 4).
			for _, k := range []float64{1, 10, 100, 1000} {
				got := f.infer(t, Config{Variant: VarianceScaled, K: k, Steps: 600, Gamma: 0.2, Engine: Sequential})
				d := totalRelErr(got, bp)
				require.Less(t, d, prev, "k = %v", k)
				prev = d
			}
			require.Less(t, prev, 1e-4, "k = 1000")
		})
	}
}

// TestTheorem1ErrorsArriveAtTheirDistance runs several batches through one network, so
// that an error left over from the previous batch would show before its arrival.
func TestTheorem1ErrorsArriveAtTheirDistance(t *testing.T) {
	for _, v := range Variants() {
		for _, h := range depths {
			for _, eng := range engines {
				t.Run(fmt.Sprintf("%s/H=%d/%s", v, h, eng), func(t *testing.T) {
					f := newFixture(h, 5)
					batches := randomBatches(rand.New(rand.NewPCG(5, uint64(h))), f.sizes[0], 4, 6, 6, 3, 6)
					gamma := 0.5
					if v == ZeroDivergence {
						gamma = 1
					}
					cfg := Config{Variant: v, Steps: h + 2, Gamma: gamma, K: 10, Engine: eng}
					recs := recordRun(t, cfg, netState{layers: f.layers}, batches, recording{observe: true})
					for b, r := range recs {
						for l := 1; l <= h; l++ {
							d := h + 1 - l
							errs := r.steps[l]
							require.Len(t, errs, h+3)
							for s := 0; s < d; s++ {
								require.Zero(t, errs[s].ErrorMaxAbs, "batch %d: node %d at step %d < d = %d", b, l, s, d)
							}
							require.NotZero(t, errs[d].ErrorMaxAbs, "batch %d: node %d at step d = %d", b, l, d)
						}
					}
				})
			}
		}
	}
}

// TestObserverMeasuresTheFixedPredictionErrorAtStepZero: FPA forms no error at step 0,
// and e_l(0) is what the feed-forward pass left in the buffer (zero). The observer must
// report the buffer, not assume its content, or an error left over from the previous
// batch would pass Theorem 1's test at step 0. The node core is driven directly, with
// such a leftover planted where the feed-forward pass would have cleared it. (The event
// schedule knows e_l(0) is zero, having zeroed it itself, and reports that; it equals the
// dense schedule's measurement bit for bit, which TestEventScheduleEqualsDenseBitForBit
// checks.)
func TestObserverMeasuresTheFixedPredictionErrorAtStepZero(t *testing.T) {
	f := newFixture(2, 15)
	var got []StepStats
	obs := &hook{at: 2, fn: func(s StepStats) { got = append(got, s) }}
	net, err := New(context.Background(), f.layers, Config{Variant: FixedPrediction, Steps: 2, Gamma: 0.5, Engine: Sequential, Schedule: Dense, Observer: obs})
	require.NoError(t, err)
	defer net.Close()
	_, err = net.Infer(batchCtx(t), f.x, f.labels)
	require.NoError(t, err)
	require.Zero(t, got[0].ErrorMaxAbs, "e_2(0) after the feed-forward pass")

	nd := net.nodes[2]
	nd.w.e.Set(1, 2, -0.75)
	got = got[:0]
	r, c := nd.w.e.Dims()
	nd.formError(0, channels.Full, nil, tensor.New[float64](r, c, nil))
	require.Len(t, got, 1)
	squares := 0.0 // the energy term is the buffer's too, leftovers and all
	for _, v := range nd.w.e.Data {
		squares += v * v
	}
	require.InEpsilon(t, squares/2, got[0].Energy, 1e-14)
	got[0].Energy = 0
	require.Equal(t, []StepStats{{Step: 0, ErrorMaxAbs: 0.75, ChangeMaxAbs: 0.75}}, got)
}

func TestTheorem1UpdatesBelowAnUnreachedNodeAreZero(t *testing.T) {
	for _, v := range Variants() {
		for _, h := range depths {
			for T := 0; T <= h+1; T++ {
				if v == Incremental && T == 0 {
					continue // iPC needs T >= 1
				}
				t.Run(fmt.Sprintf("%s/H=%d/T=%d", v, h, T), func(t *testing.T) {
					f := newFixture(h, 6)
					gamma := 0.5
					if v == ZeroDivergence {
						gamma = 1
					}
					got := f.infer(t, Config{Variant: v, Steps: T, Gamma: gamma, K: 10, Engine: Sequential})
					// Weight layer l reads e_{l+1}, whose distance is H-l: it moves iff T >= H-l.
					// iPC takes its updates at steps 0..T-1, not at T: it moves iff T-1 >= H-l.
					last := T
					if v == Incremental {
						last = T - 1
					}
					for l := range got {
						norm := floats.Norm(flat(got[l]), math.Inf(1))
						if last < h-l {
							require.Zero(t, norm, "layer %d", l)
						} else {
							require.NotZero(t, norm, "layer %d", l)
						}
					}
				})
			}
		}
	}
}

// TestParallelEqualsSequentialBitForBit: the two engines compute the same values bit for
// bit (-0 is not +0), on several batches of different sizes through one network, with
// either optimiser, T from 0 (no step) to 2H, observed or not, under one and two cores.
// The observer sees the same statistics from both, and watching changes no value.
func TestParallelEqualsSequentialBitForBit(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	opts := map[string]optim.Config{"sgd": {Kind: optim.SGD, LR: 0.1, Momentum: 0.9}, "adam": testAdam}
	for _, procs := range []int{1, 2} {
		runtime.GOMAXPROCS(procs)
		for _, v := range Variants() {
			for _, h := range depths {
				f := newFixture(h, 7)
				batches := randomBatches(rand.New(rand.NewPCG(7, uint64(h))), f.sizes[0], 4, 6, 4, 6)
				for _, T := range slices.Compact([]int{0, 1, h, 2 * h}) {
					if v == Incremental && T == 0 {
						continue // iPC learns at its steps: T >= 1
					}
					for _, opt := range []string{"sgd", "adam"} {
						t.Run(fmt.Sprintf("GOMAXPROCS=%d/%s/H=%d/T=%d/%s", procs, v, h, T, opt), func(t *testing.T) {
							cfg := testConfig(v, h, T)
							cfg.Optimizer = opts[opt]
							var runs [2][2][]batchRecord // by engine, by observed
							for i, eng := range engines {
								cfg.Engine = eng
								for j, observe := range []bool{false, true} {
									runs[i][j] = recordRun(t, cfg, netState{layers: f.layers}, batches, recording{learn: true, observe: observe})
								}
							}
							requireSameBits(t, "sequential", runs[0][1], "parallel", runs[1][1])
							requireSameBits(t, "sequential", runs[0][0], "parallel", runs[1][0])
							requireSameBits(t, "observed", withoutObserver(runs[0][1]), "unobserved", runs[0][0])
						})
					}
				}
			}
		}
	}
}

func TestBadConfigurationSaysWhichValue(t *testing.T) {
	f := newFixture(2, 8)
	for _, tc := range []struct {
		name   string
		layers []*layer.Dense[float64]
		cfg    Config
		want   string
	}{
		{"no hidden layer", f.layers[2:], Config{Variant: FixedPrediction, Gamma: 1}, "H = 0"},
		{"negative T", f.layers, Config{Variant: FixedPrediction, Steps: -1, Gamma: 1}, "steps T = -1"},
		{"iPC without steps", f.layers, Config{Variant: Incremental, Steps: 0, Gamma: 1}, "needs T >= 1"},
		{"zero gamma", f.layers, Config{Variant: Standard, Steps: 1}, "gamma = 0"},
		{"NaN gamma", f.layers, Config{Variant: Standard, Steps: 1, Gamma: math.NaN()}, "gamma = NaN"},
		{"zero k", f.layers, Config{Variant: VarianceScaled, Steps: 1, Gamma: 1}, "k = 0"},
		{"Z-IL gamma", f.layers, Config{Variant: ZeroDivergence, Steps: 2, Gamma: 0.5}, "Z-IL runs with gamma 1"},
		{"unknown variant", f.layers, Config{Steps: 1, Gamma: 1}, "unknown variant"},
		{"precisions length", f.layers, Config{Variant: Standard, Steps: 1, Gamma: 1, Precisions: []float64{1}}, "1 values for 2 hidden nodes"},
		{"mismatched widths", []*layer.Dense[float64]{f.layers[0], f.layers[2]}, Config{Variant: FixedPrediction, Gamma: 1}, "widths: layer 1 has"},
		{"bad optimizer", f.layers, Config{Variant: FixedPrediction, Gamma: 1, Optimizer: optim.Config{Kind: optim.SGD}}, "optimizer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(context.Background(), tc.layers, tc.cfg)
			require.ErrorContains(t, err, tc.want)
		})
	}
}

func TestBadBatchIsAnError(t *testing.T) {
	f := newFixture(2, 9)
	net, err := New(context.Background(), f.layers, Config{Variant: FixedPrediction, Steps: 2, Gamma: 1, MaxBatch: 6})
	require.NoError(t, err)
	defer net.Close()
	_, err = net.Infer(batchCtx(t), tensor.New[float64](6, 3, nil), f.labels)
	require.ErrorContains(t, err, "batch has 3 columns")
	_, err = net.Infer(batchCtx(t), f.x, []int{0, 1, 2, 3, 0, 9})
	require.ErrorContains(t, err, "label 9 of row 5")
	_, err = net.Infer(batchCtx(t), tensor.New[float64](7, 12, nil), make([]int, 7))
	require.ErrorContains(t, err, "exceeds MaxBatch 6")
	// The network is still usable after rejected input.
	_, err = net.Infer(batchCtx(t), f.x, f.labels)
	require.NoError(t, err)
}

// hook calls fn at every step of hidden node `at`.
type hook struct {
	at int
	fn func(StepStats)
}

func (o *hook) Node(info NodeInfo) NodeObserver {
	if info.Node != o.at {
		return nil
	}
	return hookNode{o.fn}
}
func (o *hook) Batch(BatchStats) {}

type hookNode struct{ fn func(StepStats) }

func (n hookNode) Step(s StepStats) { n.fn(s) }
func (n hookNode) End(NodeStats)    {}

func TestCancellingMidInferenceStopsPromptly(t *testing.T) {
	f := newFixture(4, 10)
	ctx, cancel := context.WithCancel(batchCtx(t))
	defer cancel()
	obs := &hook{at: 2, fn: func(s StepStats) {
		if s.Step == 5 {
			cancel()
		}
	}}
	net, err := New(context.Background(), f.layers, Config{Variant: Standard, Steps: 1 << 30, Gamma: 0.1, Observer: obs})
	require.NoError(t, err)
	_, err = net.Infer(ctx, f.x, f.labels)
	require.ErrorIs(t, err, context.Canceled)
	require.NotErrorIs(t, err, ErrClosed, "a cancelled batch does not close the network")
	require.NoError(t, net.Close())
}

func TestPanicInALayerNamesTheLayer(t *testing.T) {
	f := newFixture(4, 11)
	obs := &hook{at: 3, fn: func(s StepStats) {
		if s.Step == 2 {
			panic("boom")
		}
	}}
	net, err := New(context.Background(), f.layers, Config{Variant: FixedPrediction, Steps: 4, Gamma: 1, Observer: obs})
	require.NoError(t, err)
	_, err = net.Infer(batchCtx(t), f.x, f.labels)
	require.ErrorContains(t, err, `actor "layer 3": panic: boom`)
	_ = net.Close()
}

func TestParentContextCancellationStopsTheActors(t *testing.T) {
	f := newFixture(2, 12)
	ctx, cancel := context.WithCancel(context.Background())
	net, err := New(ctx, f.layers, Config{Variant: FixedPrediction, Steps: 2, Gamma: 1})
	require.NoError(t, err)
	cancel()
	_, err = net.Infer(batchCtx(t), f.x, f.labels)
	require.Error(t, err)
	_ = net.Close()
}

func TestCloseIsIdempotent(t *testing.T) {
	f := newFixture(1, 13)
	for _, eng := range engines {
		net, err := New(context.Background(), f.layers, Config{Variant: FixedPrediction, Steps: 1, Gamma: 1, Engine: eng})
		require.NoError(t, err)
		require.NoError(t, net.Close())
		require.NoError(t, net.Close())
		_, err = net.Infer(batchCtx(t), f.x, f.labels)
		require.ErrorIs(t, err, ErrClosed)
	}
}
