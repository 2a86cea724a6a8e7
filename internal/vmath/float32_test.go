package vmath

import (
	"math"
	"math/big"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// maxUlp32 is the stated bound of the float32 kernels against the exact result, in
// float32 ulps: the rounding to float32 of a float64 result within 2 float64 ulps.
const maxUlp32 = 0.5 + 0x1p-28

// ulpErr32 is |got - ref| in float32 ulps of ref (2^(e-23) for 2^e ≤ |ref| < 2^(e+1),
// never less than the smallest subnormal).
func ulpErr32(got float32, ref *big.Float) float64 {
	if ref.Sign() == 0 {
		if got == 0 {
			return 0
		}
		return math.Inf(1)
	}
	exp := ref.MantExp(nil) - 1
	ulp := new(big.Float).SetMantExp(big.NewFloat(1), max(exp-23, -149))
	d := new(big.Float).SetPrec(refPrec).SetFloat64(float64(got))
	d.Sub(d, ref)
	d.Abs(d)
	d.Quo(d, ulp)
	f, _ := d.Float64()
	return f
}

// round32 is the exact value x*y + z rounded once to float32.
func round32(x, y, z float32) float32 {
	r := new(big.Float).SetPrec(refPrec).Mul(big.NewFloat(float64(x)), big.NewFloat(float64(y)))
	r.Add(r, big.NewFloat(float64(z)))
	f, _ := r.Float32()
	return f
}

// TestFloat32Accuracy checks TanhInPlace32 and SigmoidInPlace32 against the 256-bit
// reference on arguments from every part of the float32 line, in slices longer than a
// chunk, and their derivatives against the exact 1 - y² and s - s² rounded once.
func TestFloat32Accuracy(t *testing.T) {
	rng := rand.New(rand.NewPCG(32, 1))
	var xs []float32
	for _, r := range sweepRanges {
		for range 1000 {
			x := float32(r.draw(rng))
			if math.IsInf(float64(x), 0) || math.IsNaN(float64(x)) {
				continue
			}
			if rng.IntN(2) == 0 {
				x = -x
			}
			xs = append(xs, x)
		}
	}
	for range 3000 { // any float32 bits but NaN and Inf
		if x := math.Float32frombits(rng.Uint32()); !math.IsNaN(float64(x)) && !math.IsInf(float64(x), 0) {
			xs = append(xs, x)
		}
	}
	for _, fn := range []struct {
		name   string
		f      func(a, deriv []float32)
		ref    func(float64) *big.Float
		derivZ func(y float32) float32 // the addend of the derivative y·(-y) + z
	}{
		{"tanh", TanhInPlace32, refTanh, func(float32) float32 { return 1 }},
		{"sigmoid", SigmoidInPlace32, refSigmoid, func(s float32) float32 { return s }},
	} {
		a, d := append([]float32(nil), xs...), make([]float32, len(xs))
		fn.f(a, d)
		worst := 0.0
		for i, x := range xs {
			if math.Abs(float64(x)) > 120 {
				// Both functions round to ±1 or 0 there in float32 (sigmoid(-120) < 2⁻¹⁵²),
				// and the 256-bit reference is slow.
				want := float32(math.Copysign(1, float64(x)))
				if fn.name == "sigmoid" {
					want = float32(max(0, want))
				}
				require.Equal(t, want, a[i], "%s(%g)", fn.name, x)
				continue
			}
			e := ulpErr32(a[i], fn.ref(float64(x)))
			worst = max(worst, e)
			require.LessOrEqual(t, e, maxUlp32, "%s(%g) = %g: %g float32 ulp off", fn.name, x, a[i], e)
			y := a[i]
			require.Equal(t, round32(-y, y, fn.derivZ(y)), d[i], "%s'(%g) for y = %g", fn.name, x, y)
		}
		t.Logf("%s: worst error %.6f float32 ulp over %d arguments", fn.name, worst, len(xs))
	}
}

// TestFloat32SpecialValues checks the signed zeros, infinities and NaN, and that a nil
// deriv is allowed.
func TestFloat32SpecialValues(t *testing.T) {
	inf, nan := float32(math.Inf(1)), float32(math.NaN())
	negZero := float32(math.Copysign(0, -1))
	a := []float32{0, negZero, inf, -inf, nan}
	TanhInPlace32(a, nil)
	require.Equal(t, uint32(0), math.Float32bits(a[0]))
	require.Equal(t, math.Float32bits(negZero), math.Float32bits(a[1]))
	require.Equal(t, []float32{1, -1}, a[2:4])
	require.True(t, math.IsNaN(float64(a[4])))
	s := []float32{inf, -inf, nan, 0}
	SigmoidInPlace32(s, make([]float32, len(s)))
	require.Equal(t, []float32{1, 0}, s[:2])
	require.True(t, math.IsNaN(float64(s[2])))
	require.Equal(t, float32(0.5), s[3])
}

func TestFloat32LengthMismatchPanics(t *testing.T) {
	require.PanicsWithValue(t, "vmath: TanhInPlace32: len(deriv) = 2, want len(a) = 3", func() {
		TanhInPlace32(make([]float32, 3), make([]float32, 2))
	})
	require.Panics(t, func() { SigmoidInPlace32(make([]float32, 1), make([]float32, 2)) })
}

func TestFloat32NoAllocations(t *testing.T) {
	a, d := make([]float32, 1000), make([]float32, 1000)
	require.Zero(t, testing.AllocsPerRun(10, func() { TanhInPlace32(a, d) }))
	require.Zero(t, testing.AllocsPerRun(10, func() { SigmoidInPlace32(a, nil) }))
}
