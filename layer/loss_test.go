package layer

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/pcnet/pcnet/tensor"
	"github.com/stretchr/testify/require"
)

func TestNegGradValueIsNegGradAndValue(t *testing.T) {
	rng := rand.New(rand.NewPCG(20, 3))
	for _, tc := range []struct {
		name  string
		loss  Loss
		scale float64
	}{
		{"nll", NLL{}, 1},
		{"nll huge logits", NLL{}, 1000},
		{"mse", SquaredError{}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			z := randDense(rng, 6, 5, tc.scale)
			labels := []int{0, 4, 2, 2, 1, 3}
			want, got := tensor.New[float64](6, 5, nil), tensor.New[float64](6, 5, nil)
			NegGrad(tc.loss, want, z, labels)
			e := NegGradValue(tc.loss, got, z, labels)
			require.Equal(t, math.Float64bits(LossValue(tc.loss, z, labels)), math.Float64bits(e), "E: %v", e)
			for i, w := range want.Data {
				require.Equal(t, math.Float64bits(w), math.Float64bits(got.Data[i]), "-dE/dz[%d]", i)
			}
		})
	}
}

// TestSampleLossesMoveTheBatchFactor checks §11's per-sample losses against their mean
// twins: the same value, an output error B times as large (bit for bit when B is a power
// of two, where scaling by B is exact), and the 1/B handed to the updates instead.
func TestSampleLossesMoveTheBatchFactor(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 0))
	for _, tc := range []struct {
		sample, mean Loss
		name         string
	}{
		{SampleCrossEntropy{}, NLL{}, "ce"},
		{SampleSquaredError{}, SquaredError{}, "sse"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.name, tc.sample.Name())
			require.True(t, tc.sample.PerSample())
			require.False(t, tc.mean.PerSample())
			const batch = 4
			z := randDense(rng, batch, 5, 2)
			labels := []int{3, 0, 4, 4}
			require.Equal(t, LossValue(tc.mean, z, labels), LossValue(tc.sample, z, labels))
			per, mean := tensor.New[float64](batch, 5, nil), tensor.New[float64](batch, 5, nil)
			NegGrad(tc.sample, per, z, labels)
			e := NegGradValue(tc.mean, mean, z, labels)
			require.Equal(t, math.Float64bits(e), math.Float64bits(LossValue(tc.sample, z, labels)))
			for i, m := range mean.Data {
				require.Equal(t, math.Float64bits(batch*m), math.Float64bits(per.Data[i]), "[%d]", i)
			}
			require.Equal(t, 0.25, UpdateScale(tc.sample, batch))
			require.Equal(t, 1.0, UpdateScale(tc.mean, batch))
		})
	}
}

// TestSampleLossGradientsMatchFiniteDifferences: -dE_b/dz_b is the derivative of the summed
// loss B * LossValue.
func TestSampleLossGradientsMatchFiniteDifferences(t *testing.T) {
	rng := rand.New(rand.NewPCG(22, 0))
	for _, loss := range []Loss{SampleCrossEntropy{}, SampleSquaredError{}} {
		t.Run(loss.Name(), func(t *testing.T) {
			z := randDense(rng, 3, 4, 1)
			labels := []int{1, 3, 0}
			g := tensor.New[float64](3, 4, nil)
			NegGrad(loss, g, z, labels)
			fd := centralDiff(z.Data, func() float64 { return 3 * LossValue(loss, z, labels) })
			for i := range fd {
				fd[i] = -fd[i]
			}
			require.Less(t, relErr(g.Data, fd), 1e-7)
		})
	}
}

func TestParseLossNamesEveryLoss(t *testing.T) {
	for _, l := range []Loss{NLL{}, SquaredError{}, SampleCrossEntropy{}, SampleSquaredError{}} {
		got, err := ParseLoss(l.Name())
		require.NoError(t, err)
		require.Equal(t, l, got)
	}
	_, err := ParseLoss("xent")
	require.EqualError(t, err, `unknown loss "xent" (want nll, mse, ce or sse)`)
}
