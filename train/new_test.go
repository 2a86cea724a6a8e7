package train

import (
	"context"
	"errors"
	"github.com/pcnet/pcnet/tensor"
	"math/rand/v2"
	"testing"

	"github.com/pcnet/pcnet/layer"
	"github.com/pcnet/pcnet/mnist"
	"github.com/pcnet/pcnet/spec"
	"github.com/stretchr/testify/require"
	"gonum.org/v1/gonum/floats"
)

// New is the one place a run becomes a learner: backprop for BP, a pcnet.Network for the
// variants, and FPA with gamma 1 and T >= H takes backprop's step exactly.
func TestNewLearnsAsTheRunSays(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 0))
	x := tensor.New[float64](8, 6, nil)
	for i := range 8 {
		for j := range 6 {
			x.Set(i, j, rng.NormFloat64())
		}
	}
	labels := []int{0, 1, 2, 3, 0, 1, 2, 3}
	weights := map[spec.Algorithm][]*layer.Dense[float64]{}
	for _, a := range []spec.Algorithm{spec.BP, spec.FPA} {
		r := spec.Default()
		r.Sizes, r.Algorithm, r.PC.Steps, r.Batch = []int{6, 5, 5, 4}, a, 2, 8
		layers := mlp(t, r.Sizes, 9)
		l, err := New(context.Background(), &r, layer.AsMaps(layers), nil)
		require.NoError(t, err)
		_, isPC := l.(*PC[float64])
		require.Equal(t, a.IsPC(), isPC)
		_, err = l.Step(batchCtx(t), x, labels)
		require.NoError(t, err)
		weights[a] = l.Layers()
		require.NoError(t, l.Close())
	}
	for i := range weights[spec.BP] {
		require.True(t, floats.EqualApprox(weights[spec.BP][i].W.Data, weights[spec.FPA][i].W.Data, 1e-12), "layer %d", i)
	}
}

func TestNewRefusesABadRun(t *testing.T) {
	r := spec.Default()
	r.Sizes, r.Algorithm, r.PC.Gamma = []int{6, 5, 5, 4}, spec.ZIL, 0.5
	_, err := New(context.Background(), &r, layer.AsMaps(mlp(t, r.Sizes, 1)), nil)
	var fe *spec.FieldError
	require.True(t, errors.As(err, &fe), "%v", err)
	require.Equal(t, "gamma", fe.Field)
}

// On one batch, FPA with gamma 1 and T = H makes backprop's update: InferUpdates and
// BackpropUpdates agree, and the update is the negated gradient.
func TestUpdatesOnABatch(t *testing.T) {
	d := mnist.Synthetic(8, 6, 4, 3)
	x := d.Rows(0, d.Len(), nil)
	layers := mlp(t, []int{6, 5, 5, 4}, 2)
	grads, updates, loss, err := BackpropUpdates(layers, layer.NLL{}, x, d.Labels)
	require.NoError(t, err)
	require.Greater(t, loss, 0.0)
	for l := range grads {
		neg := grads[l].W.Clone()
		floats.Scale(-1, neg.Data)
		require.True(t, tensor.Equal(neg, updates[l].W), "layer %d", l)
	}
	r := spec.Default()
	r.Sizes, r.PC.Steps, r.Batch = []int{6, 5, 5, 4}, 2, 8
	pc, err := InferUpdates(batchCtx(t), layers, r.PCConfig(nil), x, d.Labels)
	require.NoError(t, err)
	c := Compare(pc, updates)
	require.InDelta(t, 1, c.All.Cosine, 1e-12)
	require.Less(t, c.All.RelErr, 1e-12)
}
