package optim

import (
	"math"
	"math/big"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// fma32 is x*y + z rounded once to float32, computed exactly with big.Float: a reference
// independent of vmath.FMA32.
func fma32(x, y, z float32) float32 {
	var p, s big.Float
	p.SetPrec(200).Mul(big.NewFloat(float64(x)), big.NewFloat(float64(y)))
	s.SetPrec(200).Add(&p, big.NewFloat(float64(z)))
	f, _ := s.Float32()
	return f
}

// randomSteps returns n parameters and steps gradients for them, seeded: enough values
// that an unfused product (or any other rounding) differs somewhere.
func randomSteps(seed uint64, n, steps int) ([]float32, [][]float32) {
	rng := rand.New(rand.NewPCG(seed, 32))
	p := make([]float32, n)
	for i := range p {
		p[i] = float32(rng.NormFloat64())
	}
	grads := make([][]float32, steps)
	for s := range grads {
		grads[s] = make([]float32, n)
		for i := range grads[s] {
			grads[s][i] = float32(rng.NormFloat64() * 0.1)
		}
	}
	return p, grads
}

// The float32 sequences below are written out operation by operation, as torch's float32
// kernels run them (docs in state.go): scalars computed in float64 and rounded to float32
// once, each tensor operation rounded to float32, the fused ones rounded once.

func TestStepSGDFloat32ByHand(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
	}{
		{"plain", Config{Kind: SGD, LR: 0.1}},
		{"momentum", Config{Kind: SGD, LR: 0.1, Momentum: 0.9}},
		{"decay dampening", Config{Kind: SGD, LR: 0.03, Momentum: 0.8, Dampening: 0.3, WeightDecay: 0.01}},
		{"nesterov", Config{Kind: SGD, LR: 0.03, Momentum: 0.8, Nesterov: true, WeightDecay: 0.01}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, grads := randomSteps(1, 64, 5)
			st := NewState[float32](tc.cfg, len(p))
			want := append([]float32(nil), p...)
			buf := make([]float32, len(p))
			negLR, wd := float32(-tc.cfg.LR), float32(tc.cfg.WeightDecay)
			mom, keep := float32(tc.cfg.Momentum), float32(1-tc.cfg.Dampening)
			for step, grad := range grads {
				st.Step(p, grad)
				for i, g := range grad {
					if wd != 0 {
						g = fma32(want[i], wd, g)
					}
					if mom != 0 {
						if step == 0 {
							buf[i] = g
						} else {
							buf[i] = fma32(g, keep, buf[i]*mom)
						}
						if tc.cfg.Nesterov {
							g = fma32(buf[i], mom, g)
						} else {
							g = buf[i]
						}
					}
					want[i] = fma32(g, negLR, want[i])
				}
				require.Equal(t, want, p, "step %d", step+1)
			}
			if tc.cfg.Momentum != 0 {
				require.Equal(t, buf, st.Buffers()[BufMomentum])
			}
		})
	}
}

func TestStepAdamFloat32ByHand(t *testing.T) {
	cfg := Config{Kind: Adam, LR: 0.01, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 0.02}
	p, grads := randomSteps(2, 64, 5)
	st := NewState[float32](cfg, len(p))
	want := append([]float32(nil), p...)
	m, v := make([]float32, len(p)), make([]float32, len(p))
	b1, b2, eps, wd := float32(cfg.Beta1), float32(cfg.Beta2), float32(cfg.Eps), float32(cfg.WeightDecay)
	for step, grad := range grads {
		st.Step(p, grad)
		n := step + 1
		// Python's 1 - beta**step, lr / bias_correction1 and math.sqrt(bias_correction2)
		// are float64 scalars; torch rounds them where they meet a float32 tensor.
		bc1 := 1 - math.Pow(cfg.Beta1, float64(n))
		bc2Sqrt := float32(math.Sqrt(1 - math.Pow(cfg.Beta2, float64(n))))
		negStep := float32(-(cfg.LR / bc1))
		for i, g := range grad {
			g = fma32(want[i], wd, g)
			m[i] = fma32(g, float32(1-cfg.Beta1), m[i]*b1)
			v[i] = fma32(float32(1-cfg.Beta2)*g, g, v[i]*b2)
			denom := float32(math.Sqrt(float64(v[i])))/bc2Sqrt + eps
			want[i] += negStep * m[i] / denom
		}
		require.Equal(t, want, p, "step %d", n)
	}
	require.Equal(t, m, st.Buffers()[BufExpAvg])
	require.Equal(t, v, st.Buffers()[BufExpAvgSq])
}

// TestFloat32StepRoundsInFloat32: the float32 state is not the float64 one rounded at
// the end: lr 0.1 rounds to float32 first, and p + g·lr rounds once in float32.
func TestFloat32StepRoundsInFloat32(t *testing.T) {
	st32 := NewState[float32](Config{Kind: SGD, LR: 0.1}, 1)
	st64 := Config{Kind: SGD, LR: 0.1}.NewState(1)
	p32, p64 := []float32{1}, []float64{1}
	g := float32(1.0 / 3)
	for range 5 {
		st32.Step(p32, []float32{g})
		st64.Step(p64, []float64{float64(g)})
	}
	require.NotEqual(t, float32(p64[0]), p32[0], "float32 arithmetic, not float64 rounded")
	require.InEpsilon(t, p64[0], float64(p32[0]), 1e-6)
	gs := []float32{g} // made once: a long step may hand grad to a helper goroutine, so it escapes
	require.Zero(t, testing.AllocsPerRun(10, func() { st32.Step(p32, gs) }))
}

// TestFloat32FMA: fma's fast answer, or fmaExact where it declines, is x*y + z rounded
// once, on random operands and on the cases the fast path must decline: a float64 sum
// that lands on a float32 midpoint without being exact, and results below float32's
// normal range.
func TestFloat32FMA(t *testing.T) {
	one := func(x, y, z float32) float32 {
		if r, ok := fma(x, y, z); ok {
			return r
		}
		return fmaExact(x, y, z)
	}
	h := float32(1 + 0x1p-12) // h*h = 1 + 2^-11 + 2^-24: a float32 midpoint
	cases := [][3]float32{
		{h, h, 0x1p-60}, {h, h, -0x1p-60}, {-h, h, 0x1p-60}, {h, h, 0},
		// 2^-150 - 2^-182 + (2^-127 + 2^-149): the float64 sum is a midpoint of float32's
		// subnormal grid, and the exact value lies below it.
		{0x1p-75 * (1 + 0x1p-16), 0x1p-75 * (1 - 0x1p-16), 0x1p-127 + 0x1p-149},
		{0x1p-70, 0x1p-70, 0x1p-140}, {0x1p-75, 0x1p-60, -0x1p-149}, {0x1p-100, 0x1p-30, 0x1p-145},
		{0, 5, float32(math.Copysign(0, -1))}, {float32(math.Copysign(0, -1)), 5, float32(math.Copysign(0, -1))},
		{1, 1, -1}, {math.MaxFloat32, 2, -math.MaxFloat32},
	}
	rng := rand.New(rand.NewPCG(3, 32))
	for range 100000 {
		cases = append(cases, [3]float32{
			float32(rng.NormFloat64()), float32(rng.NormFloat64()), float32(rng.NormFloat64() * math.Exp2(float64(rng.IntN(80)-40))),
		})
	}
	for _, c := range cases {
		want := fma32(c[0], c[1], c[2])
		got := one(c[0], c[1], c[2])
		require.Equal(t, math.Float32bits(want), math.Float32bits(got), "fma%v = %v, want %v", c, got, want)
	}
	// Infinities and NaNs propagate.
	require.Equal(t, float32(math.Inf(1)), one(3, float32(math.Inf(1)), 1))
	require.True(t, math.IsNaN(float64(one(float32(math.NaN()), 1, 1))))
	// The midpoint case is one the fast path declines.
	_, ok := fma(h, h, float32(0x1p-60))
	require.False(t, ok)
}
