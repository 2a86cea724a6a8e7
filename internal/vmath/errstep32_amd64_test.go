//go:build !purego

package vmath

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestErrStep32Assembly holds the AVX2 parts of StepMax32, DiffMax32, SetMax32 and SumSquares32 to
// their Go loops (the same functions with the assembly switched off) bit for bit, figures
// included, with NaN, infinities, zeros of both signs and huge values among the operands.
func TestErrStep32Assembly(t *testing.T) {
	if !hasAVX2 {
		t.Skip("no AVX2 on this CPU")
	}
	ops := []struct {
		name string
		f    func(e, a, b []float32) (size, change, squares float64)
	}{
		{"StepMax32", func(e, a, _ []float32) (float64, float64, float64) { return StepMax32(e, a, 0.3) }},
		{"DiffMax32", DiffMax32},
		{"SetMax32", func(e, a, _ []float32) (float64, float64, float64) { return SetMax32(e, a) }},
		{"SumSquares32", func(e, _, _ []float32) (float64, float64, float64) { return 0, 0, SumSquares32(e) }},
	}
	rng := rand.New(rand.NewPCG(32, 8))
	special := []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1)), 0, float32(math.Copysign(0, -1)), math.MaxFloat32, -math.MaxFloat32, 1e-40}
	for _, op := range ops {
		for _, n := range []int{8, 9, 16, 63, 1000} {
			for _, withSpecial := range []bool{false, true} {
				e, a, b := make([]float32, n), make([]float32, n), make([]float32, n)
				for _, s := range [][]float32{e, a, b} {
					for i := range n {
						s[i] = float32(rng.NormFloat64())
						if withSpecial && rng.IntN(4) == 0 {
							s[i] = special[rng.IntN(len(special))]
						}
					}
				}
				ea, eg := append([]float32(nil), e...), append([]float32(nil), e...)
				sa, ca, qa := op.f(ea, a, b)
				hasAVX2 = false
				sg, cg, qg := op.f(eg, a, b)
				hasAVX2 = true
				for i := range n {
					require.Equal(t, math.Float32bits(eg[i]), math.Float32bits(ea[i]), "%s n=%d e[%d]", op.name, n, i)
				}
				require.Equal(t, math.Float64bits(sg), math.Float64bits(sa), "%s n=%d size", op.name, n)
				require.Equal(t, math.Float64bits(cg), math.Float64bits(ca), "%s n=%d change", op.name, n)
				if !math.IsNaN(qg) {
					require.Equal(t, math.Float64bits(qg), math.Float64bits(qa), "%s n=%d squares", op.name, n)
				} else {
					require.True(t, math.IsNaN(qa), "%s n=%d squares", op.name, n)
				}
			}
		}
	}
}
