package train

import (
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/pcnet/pcnet/backprop"
	"github.com/pcnet/pcnet/layer"
	"github.com/pcnet/pcnet/optim"
	"github.com/pcnet/pcnet/tensor"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// bpProblem is a small chain and a batch for it, the same for a seed.
func bpProblem[T tensor.Float](t *testing.T, seed uint64) ([]*layer.Dense[T], *tensor.Matrix[T], []int) {
	rng := rand.New(rand.NewPCG(seed, 0))
	layers, err := layer.NewMLP[T]([]int{6, 5, 7, 4, 3}, layer.Tanh, rng)
	require.NoError(t, err)
	x := tensor.New[T](5, 6, nil)
	for i := range x.Data {
		x.Data[i] = T(rng.Float64())
	}
	labels := make([]int, 5)
	for i := range labels {
		labels[i] = rng.IntN(3)
	}
	return layers, x, labels
}

// BP.Step on a chain, whose optimiser steps run beside the backward wave on more than one
// core, learns the weights of the gradients of a whole wave followed by every step, bit
// for bit, at every GOMAXPROCS.
func TestBPStepMatchesStepsAfterTheWave(t *testing.T) {
	for _, procs := range []int{1, 2, 4} {
		t.Run(fmt.Sprint("procs=", procs), func(t *testing.T) {
			defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
			testBPStep[float32](t)
			testBPStep[float64](t)
		})
	}
}

func testBPStep[T tensor.Float](t *testing.T) {
	opt := optim.Config{Kind: optim.SGD, LR: 0.1, Momentum: 0.9}
	layers, x, labels := bpProblem[T](t, 7)
	bp, err := NewBP(layers, layer.NLL{}, opt)
	require.NoError(t, err)
	want, _, _ := bpProblem[T](t, 7)
	net, err := backprop.New(want, layer.NLL{})
	require.NoError(t, err)
	grads := make([]*layer.Grad[T], len(want))
	states := make([][2]*optim.State[T], len(want))
	for l, d := range want {
		grads[l] = layer.NewGrad(d)
		states[l] = [2]*optim.State[T]{optim.NewState[T](opt, len(d.W.Data)), optim.NewState[T](opt, len(d.B))}
	}
	for step := range 4 { // the first SGD step and the vectorised ones after it
		got, err := bp.Step(context.Background(), x, labels)
		require.NoError(t, err)
		require.Equal(t, net.Gradients(grads, x, labels), got, "loss at step %d", step)
		for l, d := range want {
			states[l][0].Step(d.W.Data, grads[l].W.Data)
			states[l][1].Step(d.B, grads[l].B)
		}
		for l := range want {
			require.Equal(t, want[l].Params(), layers[l].Params(), "layer %d after step %d", l, step)
		}
	}
}

// A Step that refuses its input (a panic, as backprop.Net's) leaves no optimiser goroutine
// behind, and the next Step runs.
func TestBPStepPanicEndsItsGoroutine(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2))
	layers, x, labels := bpProblem[float64](t, 3)
	bp, err := NewBP(layers, layer.NLL{}, optim.Config{Kind: optim.SGD, LR: 0.1, Momentum: 0.9})
	require.NoError(t, err)
	require.Panics(t, func() { _, _ = bp.Step(context.Background(), tensor.New[float64](5, 4, nil), labels) })
	goleak.VerifyNone(t)
	_, err = bp.Step(context.Background(), x, labels)
	require.NoError(t, err)
}
