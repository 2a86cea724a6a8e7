package backprop

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pcnet/pcnet/graph"
	"github.com/pcnet/pcnet/layer"
	"github.com/pcnet/pcnet/tensor"
)

// graphCase is a network on a layer graph: dense maps (today's layers, on a chain graph)
// or §11's pre-activation maps (chain or residual), with long skips.
type graphCase struct {
	name   string
	widths []int
	shape  graph.Shape
	skips  string
	dense  bool
	param  layer.Param
	act    layer.Activation
	loss   layer.Loss
}

// graphCases cover every shape: chains of either kind of map, residual networks under
// both parameterisations, skips from the input, into the output and two into one node,
// docs/design.md §11's table graph (H = 9, skips 1:5, 3:8), and every loss.
var graphCases = []graphCase{
	{"chain-dense-tanh-nll", []int{6, 5, 7, 4, 3}, graph.Chain, "", true, 0, layer.Tanh, layer.NLL{}},
	{"chain-dense-skips-sigmoid-mse", []int{5, 5, 5, 5, 5, 3}, graph.Chain, "0:2,1:3,1:4,2:4", true, 0, layer.Sigmoid, layer.SquaredError{}},
	{"chain-dense-skip-to-output-ce", []int{4, 4, 4, 4, 4}, graph.Chain, "0:2,1:4,2:4", true, 0, layer.Tanh, layer.SampleCrossEntropy{}},
	{"chain-preact-mupc-relu-ce", []int{6, 5, 7, 4, 3}, graph.Chain, "", false, layer.MuPC, layer.ReLU, layer.SampleCrossEntropy{}},
	{"residual-mupc-relu-sse", []int{6, 8, 8, 8, 8, 3}, graph.Residual, "", false, layer.MuPC, layer.ReLU, layer.SampleSquaredError{}},
	{"residual-mupc-tanh-ce-skips", []int{6, 5, 5, 5, 5, 5, 5, 4}, graph.Residual, "1:4,3:6", false, layer.MuPC, layer.Tanh, layer.SampleCrossEntropy{}},
	{"residual-standard-tanh-mse", []int{6, 5, 5, 5, 3}, graph.Residual, "", false, layer.Standard, layer.Tanh, layer.SquaredError{}},
	{"residual-standard-sigmoid-nll-skips", []int{5, 5, 5, 5, 5, 2}, graph.Residual, "0:3,1:4,2:4", false, layer.Standard, layer.Sigmoid, layer.NLL{}},
	{"residual-mupc-identity-sse-skip-to-output", []int{3, 3, 3, 3}, graph.Residual, "0:3,1:3", false, layer.MuPC, layer.Identity, layer.SampleSquaredError{}},
	{"chain-dense-table-graph-nll", []int{6, 4, 4, 4, 4, 4, 4, 4, 4, 4, 3}, graph.Chain, "1:5,3:8", true, 0, layer.Tanh, layer.NLL{}},
}

// build returns the network of c in precision T, its weights drawn from seed.
func build[T tensor.Float](t *testing.T, c graphCase, seed uint64) *GraphNet[T] {
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
	net, err := NewGraph(g, maps, c.loss)
	require.NoError(t, err)
	return net
}

func TestGraphGradientsMatchFiniteDifferences(t *testing.T) {
	for _, c := range graphCases {
		t.Run(c.name, func(t *testing.T) {
			net := build[float64](t, c, 3)
			rng := rand.New(rand.NewPCG(4, 0))
			x, y := randBatch(rng, 5, c.widths[0], c.widths[len(c.widths)-1])
			grads := net.NewGrads()
			net.Gradients(grads, x, y)
			loss := func() float64 { return layer.LossValue(net.Loss, net.Forward(x), y) }
			for l, m := range net.Maps {
				for i, p := range m.Params() {
					if len(p) == 0 {
						require.Empty(t, grads[l].Params()[i], "map %d has no bias", l)
						continue
					}
					fd := make([]float64, len(p))
					for j := range p {
						const h = 1e-6
						old := p[j]
						p[j] = old + h
						fp := loss()
						p[j] = old - h
						fm := loss()
						p[j] = old
						fd[j] = (fp - fm) / (2 * h)
					}
					require.Less(t, relDiff(grads[l].Params()[i], fd), 1e-6, "map %d param %d", l, i)
				}
			}
		})
	}
}

// relDiff is ||a - b|| / ||b||.
func relDiff[T tensor.Float](a []T, b []float64) float64 {
	var d, n float64
	for i := range b {
		d += (float64(a[i]) - b[i]) * (float64(a[i]) - b[i])
		n += b[i] * b[i]
	}
	return math.Sqrt(d / n)
}

// TestGraphOnChainIsNet checks the chain case: GraphNet on a chain of Dense maps computes
// Net's loss and gradients bit for bit, in both precisions.
func TestGraphOnChainIsNet(t *testing.T) {
	for _, loss := range []layer.Loss{layer.NLL{}, layer.SquaredError{}, layer.SampleCrossEntropy{}, layer.SampleSquaredError{}} {
		t.Run(loss.Name(), func(t *testing.T) {
			chainIsNet[float64](t, loss)
			chainIsNet[float32](t, loss)
		})
	}
}

func chainIsNet[T tensor.Float](t *testing.T, loss layer.Loss) {
	c := graphCase{widths: []int{7, 6, 5, 6, 3}, shape: graph.Chain, dense: true, act: layer.Tanh, loss: loss}
	gnet := build[T](t, c, 5)
	dense := make([]*layer.Dense[T], len(gnet.Maps))
	for l, m := range gnet.Maps {
		dense[l] = m.(*layer.Dense[T]).Clone()
	}
	net, err := New(dense, loss)
	require.NoError(t, err)
	rng := rand.New(rand.NewPCG(6, 0))
	x64, y := randBatch(rng, 9, 7, 3)
	x := tensor.New[T](9, 7, nil)
	tensor.Convert(x, x64)
	want := make([]*layer.Grad[T], len(dense))
	for l, d := range dense {
		want[l] = layer.NewGrad(d)
	}
	got := gnet.NewGrads()
	wantLoss := net.Gradients(want, x, y)
	require.Equal(t, math.Float64bits(wantLoss), math.Float64bits(gnet.Gradients(got, x, y)))
	for l := range want {
		for i, w := range want[l].Params() {
			g := got[l].Params()[i]
			for j := range w {
				require.Equal(t, math.Float64bits(float64(w[j])), math.Float64bits(float64(g[j])), "map %d param %d [%d]", l, i, j)
			}
		}
	}
}

// TestGraphFloat32FollowsFloat64 checks the float32 instantiation against float64 on the
// same (rounded) weights and batch: each gradient to a relative error of 1e-4.
func TestGraphFloat32FollowsFloat64(t *testing.T) {
	for _, c := range graphCases {
		t.Run(c.name, func(t *testing.T) {
			n64, n32 := build[float64](t, c, 8), build[float32](t, c, 8)
			rng := rand.New(rand.NewPCG(9, 0))
			x64, y := randBatch(rng, 6, c.widths[0], c.widths[len(c.widths)-1])
			x32 := tensor.New[float32](x64.Rows, x64.Cols, nil)
			tensor.Convert(x32, x64)
			g64, g32 := n64.NewGrads(), n32.NewGrads()
			l64, l32 := n64.Gradients(g64, x64, y), n32.Gradients(g32, x32, y)
			require.InDelta(t, l64, l32, 1e-5*math.Max(1, math.Abs(l64)))
			for l := range g64 {
				for i, w := range g64[l].Params() {
					if len(w) > 0 {
						require.Less(t, relDiff(g32[l].Params()[i], w), 1e-4, "map %d param %d", l, i)
					}
				}
			}
		})
	}
}

func TestNewGraphRejects(t *testing.T) {
	g, err := graph.New([]int{4, 3, 3, 2}, graph.Residual, nil)
	require.NoError(t, err)
	chain, err := graph.New([]int{4, 3, 3, 2}, graph.Chain, nil)
	require.NoError(t, err)
	rng := rand.New(rand.NewPCG(1, 0))
	res, err := layer.NewPreActNet[float64]([]int{4, 3, 3, 2}, layer.Tanh, layer.MuPC, true, rng)
	require.NoError(t, err)
	plain, err := layer.NewPreActNet[float64]([]int{4, 3, 3, 2}, layer.Tanh, layer.MuPC, false, rng)
	require.NoError(t, err)
	wide, err := layer.NewPreAct[float64](4, 5, layer.Identity, 1, false)
	require.NoError(t, err)
	maps := func(ps ...*layer.PreAct[float64]) []layer.Map[float64] {
		out := make([]layer.Map[float64], len(ps))
		for i, p := range ps {
			out[i] = p
		}
		return out
	}
	for _, tc := range []struct {
		name string
		g    *graph.Graph
		maps []layer.Map[float64]
		loss layer.Loss
		want string
	}{
		{"no graph", nil, maps(res...), layer.NLL{}, "backprop: bad graph network: a network needs a graph and a loss"},
		{"no loss", g, maps(res...), nil, "backprop: bad graph network: a network needs a graph and a loss"},
		{"too few maps", g, maps(res[:2]...), layer.NLL{}, "backprop: bad graph network: 2 maps for residual H=2 skips -, want 3 (one per node 0..H)"},
		{"nil map", g, []layer.Map[float64]{res[0], nil, res[2]}, layer.NLL{}, "backprop: bad graph network: map 1 is nil"},
		{"widths", g, maps(wide, res[1], res[2]), layer.NLL{}, "backprop: bad graph network: map 0 is 4 -> 5, but nodes 0 and 1 have widths 4 and 3"},
		{"residual without skips", g, maps(plain...), layer.NLL{}, "backprop: bad graph network: map 1 has identity skip false, but a residual graph's map 1 has true"},
		{"chain with skips", chain, maps(res...), layer.NLL{}, "backprop: bad graph network: map 1 has identity skip true, but a chain graph's map 1 has false"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewGraph(tc.g, tc.maps, tc.loss)
			require.ErrorIs(t, err, ErrGraphNet)
			require.EqualError(t, err, tc.want)
		})
	}
}

func TestGraphGradientsDoNotAllocate(t *testing.T) {
	c := graphCases[5] // residual, μPC, skips, a per-sample loss
	net := build[float64](t, c, 2)
	rng := rand.New(rand.NewPCG(3, 0))
	x, y := randBatch(rng, 16, c.widths[0], c.widths[len(c.widths)-1])
	grads := net.NewGrads()
	net.Gradients(grads, x, y) // warm-up allocates the workspace
	require.Zero(t, testing.AllocsPerRun(5, func() { net.Gradients(grads, x, y) }))
}

func TestGraphEvaluateIsChunked(t *testing.T) {
	c := graphCases[4]
	net := build[float64](t, c, 2)
	rng := rand.New(rand.NewPCG(3, 0))
	x, y := randBatch(rng, 10, c.widths[0], c.widths[len(c.widths)-1])
	whole, correct := net.Evaluate(x, y, 0)
	chunked, correct3 := net.Evaluate(x, y, 3)
	require.InDelta(t, whole, chunked, 1e-12)
	require.Equal(t, correct, correct3)
	require.Equal(t, whole, layer.LossValue(net.Loss, net.Forward(x), y))
}

func ExampleGraphNet_Gradients() {
	// μPC's residual network of §11 on 8 inputs, H = 4 hidden nodes of width 16 and 3
	// classes, with a long skip from node 1 to node 4, trained on the per-sample
	// cross-entropy.
	widths := []int{8, 16, 16, 16, 16, 3}
	g, _ := graph.New(widths, graph.Residual, []graph.Skip{{From: 1, To: 4}})
	pre, _ := layer.NewPreActNet[float64](widths, layer.ReLU, layer.MuPC, true, rand.New(rand.NewPCG(1, 0)))
	maps := make([]layer.Map[float64], len(pre))
	for l, p := range pre {
		maps[l] = p
	}
	net, _ := NewGraph(g, maps, layer.SampleCrossEntropy{})
	x, y := randBatch(rand.New(rand.NewPCG(2, 0)), 4, 8, 3)
	grads := net.NewGrads()
	loss := net.Gradients(grads, x, y)
	r, c := grads[2].W.Dims()
	fmt.Printf("%v: loss > 0: %v, grad W_2 is %dx%d, no bias: %v\n", g, loss > 0, r, c, len(grads[2].B) == 0)
	// Output:
	// residual H=4 skips 1:4: loss > 0: true, grad W_2 is 16x16, no bias: true
}
