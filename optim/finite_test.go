package optim

import (
	"fmt"
	"math"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pcnet/pcnet/tensor"
)

// TestStepAscentFinite checks StepAscentFinite's answer on every path (SGD without
// momentum, the first momentum step, the vectorised later steps, Adam), in both
// precisions, where one update overflows a weight or brings a NaN, and where none does;
// the weights must equal StepAscent's bit for bit.
func TestStepAscentFinite(t *testing.T) {
	t.Run("f64", func(t *testing.T) { testStepAscentFinite[float64](t) })
	t.Run("f32", func(t *testing.T) { testStepAscentFinite[float32](t) })
}

func testStepAscentFinite[T tensor.Float](t *testing.T) {
	for _, cfg := range []Config{
		{Kind: SGD, LR: 0.1},
		{Kind: SGD, LR: 0.1, Momentum: 0.9},
		{Kind: Adam, LR: 0.1, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8},
	} {
		for _, n := range []int{0, 5, 40} {
			for _, at := range []int{-1, 0, n - 1} {
				for _, bad := range []float64{math.Inf(-1), math.NaN()} {
					if at >= n {
						continue
					}
					name := fmt.Sprintf("%+v/n=%d/at=%d/bad=%g", cfg, n, at, bad)
					a := NewState[T](cfg, n)
					b := NewState[T](cfg, n)
					pa, pb, u := make([]T, n), make([]T, n), make([]T, n)
					for i := range n {
						pa[i], pb[i], u[i] = 1, 1, T(0.01*float64(i+1))
					}
					for step := range 3 { // the third SGD momentum step is the vectorised one
						if step == 2 && at >= 0 {
							u[at] = T(bad)
						}
						finite := a.StepAscentFinite(pa, u)
						b.StepAscent(pb, u)
						require.Equal(t, step < 2 || at < 0, finite, "%s: step %d", name, step)
						for i := range n {
							require.Equal(t, math.Float64bits(float64(pb[i])), math.Float64bits(float64(pa[i])), "%s: param[%d]", name, i)
						}
					}
				}
			}
		}
	}
}
