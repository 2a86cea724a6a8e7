package layer

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
	"gonum.org/v1/gonum/mat"
)

// halfLoss is a Loss NegGradValue has no fused form of: it must call both methods.
type halfLoss struct{ NLL }

func (halfLoss) Value(z *mat.Dense, labels []int) float64 { return NLL{}.Value(z, labels) / 2 }

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
		{"other loss", halfLoss{}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			z := randDense(rng, 6, 5, tc.scale)
			labels := []int{0, 4, 2, 2, 1, 3}
			want, got := mat.NewDense(6, 5, nil), mat.NewDense(6, 5, nil)
			tc.loss.NegGrad(want, z, labels)
			e := NegGradValue(tc.loss, got, z, labels)
			require.Equal(t, math.Float64bits(tc.loss.Value(z, labels)), math.Float64bits(e), "E: %v", e)
			for i, w := range want.RawMatrix().Data {
				require.Equal(t, math.Float64bits(w), math.Float64bits(got.RawMatrix().Data[i]), "-dE/dz[%d]", i)
			}
		})
	}
}
