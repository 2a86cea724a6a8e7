package train

import (
	"context"
	"testing"

	"github.com/pcnet/pcnet/layer"
	"github.com/pcnet/pcnet/pcnet"
	"github.com/pcnet/pcnet/tensor"
	"github.com/stretchr/testify/require"
)

// The comparer's BP time is a whole BP step: it takes an optimiser step, with the
// learner's configuration, on a scratch copy, and leaves the learner's weights alone.
func TestComparerTimesAWholeStep(t *testing.T) {
	pc, err := NewPC(context.Background(), mlp(t, []int{5, 4, 3}, 3), pcnet.Config{Variant: pcnet.FixedPrediction, Steps: 1, Gamma: 1, Optimizer: sgd})
	require.NoError(t, err)
	defer pc.Close()
	before := make([]*layer.Dense[float64], len(pc.Layers()))
	for l, d := range pc.Layers() {
		before[l] = d.Clone()
	}
	c, err := newComparer(pc.Graph(), pc.Maps(), pc.Optimizers(), layer.NLL{}, pc)
	require.NoError(t, err)
	x := tensor.New[float64](2, 5, []float64{0.1, 0.2, 0.3, 0.4, 0.5, 0.5, 0.4, 0.3, 0.2, 0.1})
	require.Positive(t, c.before(x, []int{0, 2}))
	for l, d := range pc.Layers() {
		require.Equal(t, before[l].Params(), d.Params(), "layer %d's weights", l)
		for k := range 2 {
			require.Equal(t, 1, c.opt[l][k].Steps(), "layer %d tensor %d took one optimiser step", l, k)
			require.Equal(t, sgd, c.opt[l][k].Config())
			require.NotEqual(t, d.Params()[k], c.scratch[l][k], "the scratch copy moved")
		}
	}
}
