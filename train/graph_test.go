package train

import (
	"context"
	"testing"

	"github.com/pcnet/pcnet/graph"
	"github.com/pcnet/pcnet/layer"
	"github.com/pcnet/pcnet/mnist"
	"github.com/pcnet/pcnet/optim"
	"github.com/pcnet/pcnet/spec"
	"github.com/pcnet/pcnet/tensor"
	"github.com/stretchr/testify/require"
)

// graphRun is a small run on a layer graph: 6 inputs, H hidden nodes of width 5, 4
// outputs.
func graphRun(a spec.Algorithm, h int, arch graph.Shape, param layer.Param, skips []graph.Skip, loss string) spec.Run {
	r := spec.Default()
	r.Sizes = layer.Sizes(6, []int{5, 5, 5, 5, 5, 5}[:h], 4)
	r.Activation, r.Loss, r.Arch, r.Param, r.Skips = layer.ReLU, loss, arch, param, skips
	r.Algorithm, r.Batch, r.Seed = a, 8, 3
	r.Optimizer = optim.DefaultAdam(0.01)
	r.PC.Steps, r.PC.Gamma = h, 1
	return r
}

// train.New on a layer graph: FPA-PC with gamma 1 and T >= LongestPath(1) (H on every
// graph) learns backprop's weights on the same graph bit for bit, step after step, in
// both precisions, on residual and long-skip networks under both parameterisations
// (docs/design.md §11).
func TestNewOnAGraphTrainsLikeBackprop(t *testing.T) {
	for _, tc := range []struct {
		name  string
		h     int
		arch  graph.Shape
		param layer.Param
		skips []graph.Skip
		loss  string
	}{
		{"residual mupc", 4, graph.Residual, layer.MuPC, nil, "sse"},
		{"residual standard", 3, graph.Residual, layer.Standard, nil, "ce"},
		{"residual mupc skips", 5, graph.Residual, layer.MuPC, skipsOf("1:4,3:5"), "mse"},
		{"chain mupc skip 1:3", 3, graph.Chain, layer.MuPC, skipsOf("1:3"), "nll"},
		{"dense chain skips", 5, graph.Chain, layer.Standard, skipsOf("1:5,2:4"), "nll"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			testGraphTrainsLikeBackprop[float64](t, tc.h, tc.arch, tc.param, tc.skips, tc.loss)
			testGraphTrainsLikeBackprop[float32](t, tc.h, tc.arch, tc.param, tc.skips, tc.loss)
		})
	}
}

func testGraphTrainsLikeBackprop[T tensor.Float](t *testing.T, h int, arch graph.Shape, param layer.Param, skips []graph.Skip, loss string) {
	data := mnist.SyntheticSplits(40, 16, 16, 6, 4, 7)
	var maps [2][]layer.Map[T]
	var epochs [2]EpochInfo
	for i, a := range []spec.Algorithm{spec.BP, spec.FPA} {
		r := graphRun(a, h, arch, param, skips, loss)
		r.Precision = spec.PrecisionOf[T]()
		g, err := r.Graph()
		require.NoError(t, err)
		require.GreaterOrEqual(t, r.PC.Steps, g.LongestPath(1))
		m, err := spec.InitialMapsOf[T](&r)
		require.NoError(t, err)
		l, err := New(context.Background(), &r, m, nil)
		require.NoError(t, err)
		require.Equal(t, g.String(), l.Graph().String())
		require.Equal(t, r.Dense(), l.Layers() != nil, "Layers is the maps as dense layers, or nil")
		opts := Options{Epochs: 2, Batch: r.Batch, Seed: r.Seed, Loss: r.LossFunc(), CosineEvery: 1}
		hooks := Hooks{Epoch: func(e EpochInfo) error { epochs[i] = e; return nil }}
		_, err = Run(context.Background(), l, data, opts, Position{}, hooks)
		require.NoError(t, err)
		require.NoError(t, l.Close())
		maps[i] = l.Maps()
	}
	for l := range maps[0] {
		require.Equal(t, maps[0][l].Params(), maps[1][l].Params(), "map %d's parameters", l)
	}
	bp, pc := epochs[0], epochs[1]
	require.Equal(t, bp.TrainLoss, pc.TrainLoss)
	require.Equal(t, bp.ValLoss, pc.ValLoss)
	require.Equal(t, bp.ValAccuracy, pc.ValAccuracy)
	// The comparer ran backprop on the same graph: PC's update is backprop's.
	require.Equal(t, 5, pc.Compared)
	require.InDelta(t, 1, pc.MeanCosine, 1e-6)
	require.Len(t, pc.MeanLayerCosine, h+1)
}

// skipsOf reads skips written as -skips takes them.
func skipsOf(s string) []graph.Skip {
	skips, err := graph.ParseSkips(s)
	if err != nil {
		panic(err)
	}
	return skips
}
