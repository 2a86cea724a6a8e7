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
