//go:build !purego

package vmath

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestStepMax32Assembly holds StepMax32's AVX2 part to its Go loop (the same function with
// the assembly switched off) bit for bit, figures included, with NaN, infinities, zeros
// of both signs and huge values among the operands.
func TestStepMax32Assembly(t *testing.T) {
	if !hasAVX2 {
		t.Skip("no AVX2 on this CPU")
	}
	rng := rand.New(rand.NewPCG(32, 8))
	special := []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1)), 0, float32(math.Copysign(0, -1)), math.MaxFloat32, -math.MaxFloat32, 1e-40}
	for _, n := range []int{8, 9, 16, 63, 1000} {
		for _, withSpecial := range []bool{false, true} {
			e, j := make([]float32, n), make([]float32, n)
			for i := range n {
				e[i], j[i] = float32(rng.NormFloat64()), float32(rng.NormFloat64())
				if withSpecial && rng.IntN(4) == 0 {
					e[i] = special[rng.IntN(len(special))]
				}
				if withSpecial && rng.IntN(4) == 0 {
					j[i] = special[rng.IntN(len(special))]
				}
			}
			ea, eg := append([]float32(nil), e...), append([]float32(nil), e...)
			sa, ca, qa := StepMax32(ea, j, 0.3)
			hasAVX2 = false
			sg, cg, qg := StepMax32(eg, j, 0.3)
			hasAVX2 = true
			for i := range n {
				require.Equal(t, math.Float32bits(eg[i]), math.Float32bits(ea[i]), "n=%d e[%d]", n, i)
			}
			require.Equal(t, math.Float64bits(sg), math.Float64bits(sa), "n=%d size", n)
			require.Equal(t, math.Float64bits(cg), math.Float64bits(ca), "n=%d change", n)
			if !math.IsNaN(qg) {
				require.Equal(t, math.Float64bits(qg), math.Float64bits(qa), "n=%d squares", n)
			} else {
				require.True(t, math.IsNaN(qa), "n=%d squares", n)
			}
		}
	}
}
