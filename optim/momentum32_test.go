package optim

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pcnet/pcnet/internal/vmath"
)

// TestSGDMomentum32 holds the vectorised float32 SGD step (vmath.MomentumStep32) to the
// scalar loop, torch's operations one FMA32 at a time, for Step and StepAscent, over
// lengths with a tail after the vector lanes.
func TestSGDMomentum32(t *testing.T) {
	rng := rand.New(rand.NewPCG(41, 32))
	for _, cfg := range []Config{
		{Kind: SGD, LR: 0.1, Momentum: 0.9},
		{Kind: SGD, LR: 0.01, Momentum: 0.5, Dampening: 0.25},
	} {
		for _, ascent := range []bool{false, true} {
			const n = 37
			param, ref := make([]float32, n), make([]float32, n)
			for i := range param {
				param[i] = float32(rng.NormFloat64())
				ref[i] = param[i]
			}
			st := NewState[float32](cfg, n)
			buf := make([]float32, n)
			negLR, keep, mom := float32(-cfg.LR), float32(1-cfg.Dampening), float32(cfg.Momentum)
			u := make([]float32, n)
			for step := range 4 {
				for i := range u {
					u[i] = float32(rng.NormFloat64())
				}
				u[3] = 0
				for i := range ref {
					g := u[i]
					if ascent {
						g = -g
					}
					b := g
					if step > 0 {
						b = vmath.FMA32(g, keep, float32(buf[i]*mom))
					}
					buf[i] = b
					ref[i] = vmath.FMA32(b, negLR, ref[i])
				}
				if ascent {
					st.StepAscent(param, u)
				} else {
					st.Step(param, u)
				}
				for i := range param {
					require.Equal(t, math.Float32bits(ref[i]), math.Float32bits(param[i]), "%+v ascent=%v step %d param %d", cfg, ascent, step, i)
				}
			}
		}
	}
}
