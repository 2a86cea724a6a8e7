package vmath

import (
	"math"
	"math/big"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

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
		bound  float64
	}{
		{"tanh", TanhInPlace32, refTanh, func(float32) float32 { return 1 }, maxUlpTanh32},
		{"sigmoid", SigmoidInPlace32, refSigmoid, func(s float32) float32 { return s }, maxUlpSigmoid32},
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
			require.LessOrEqual(t, e, fn.bound, "%s(%g) = %g: %g float32 ulp off", fn.name, x, a[i], e)
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

// TestFMA32 checks the emulated float32 FMA against the exact value, computed with
// big.Float, on random operands, many of them chosen so that the exact result lies within
// a float64 ulp of halfway between two float32 values: there a float64 sum rounded to
// float32, rounding twice, goes the wrong way, and the test counts that it met such cases.
func TestFMA32(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 1))
	exact := func(x, y, z float32) float32 {
		p := new(big.Float).SetPrec(200).Mul(big.NewFloat(float64(x)), big.NewFloat(float64(y)))
		p.Add(p, big.NewFloat(float64(z)))
		f, _ := p.Float32()
		return f
	}
	cases := [][3]float32{{0, -1, 0}, {float32(math.Copysign(0, -1)), 1, 0}, {1, 1, -1}, {3, 0x1p-126, -0x1p-125}, {0x1p-100, 0x1p-100, 0}}
	// A*B = 2⁴⁷ + j with A and B of 24 bits, so that (A 2⁻⁴⁸)(B 2⁻²³) = 2⁻²⁴ + j 2⁻⁷¹: added
	// to 1, just past halfway between 1 and its float32 successor, by less than a float64
	// ulp of 1.
	for _, ab := range [][3]int{{2, 8392705, 16769026}, {7, 9010893, 15618595}, {15, 9831833, 14314471}, {19, 8986713, 15660619}} {
		x, y := float32(ab[1])*0x1p-48, float32(ab[2])*0x1p-23
		cases = append(cases, [3]float32{x, y, 1}, [3]float32{-x, y, -1}, [3]float32{x, -y, 1})
		// The same just past halfway between two subnormal float32 values near 2⁻¹²⁷:
		// (A 2⁻⁹⁸)(B 2⁻⁹⁹) = 2⁻¹⁵⁰ + j 2⁻¹⁹⁷, added to an even multiple of 2⁻¹⁴⁹.
		x, y = float32(ab[1])*0x1p-98, float32(ab[2])*0x1p-99
		z := float32(1<<22+2*ab[0]) * 0x1p-149
		cases = append(cases, [3]float32{x, y, z}, [3]float32{-x, y, -z})
	}
	for range 100000 {
		x, y := float32(rng.NormFloat64()), float32(rng.NormFloat64())
		z := float32(rng.NormFloat64())
		if rng.IntN(2) == 0 {
			z = -x * y * (1 + float32(rng.IntN(5)-2)*0x1p-23) // cancellation
		}
		cases = append(cases, [3]float32{x, y, z})
	}
	// Below float32's normal range: 2⁻¹⁵⁰ - 2⁻¹⁸² + (2⁻¹²⁷ + 2⁻¹⁴⁹) rounds in float64 to a
	// midpoint of float32's subnormal grid, and the exact value lies below it.
	cases = append(cases, [3]float32{0x1p-75 * (1 + 0x1p-16), 0x1p-75 * (1 - 0x1p-16), 0x1p-127 + 0x1p-149})
	// Results in and near float32's subnormal range, where FMA32 leaves its fast path.
	for range 20000 {
		x := float32(rng.NormFloat64()) * 0x1p-63
		y := float32(rng.NormFloat64()) * 0x1p-63
		z := float32(rng.NormFloat64()) * 0x1p-126
		cases = append(cases, [3]float32{x, y, z}, [3]float32{x, y, -x * y})
	}
	wrongTwice, declined := 0, 0
	for _, c := range cases {
		got, want := FMA32(c[0], c[1], c[2]), exact(c[0], c[1], c[2])
		require.Equal(t, math.Float32bits(want), math.Float32bits(got), "FMA32(%g, %g, %g) = %g, want %g", c[0], c[1], c[2], got, want)
		require.Equal(t, math.Float32bits(want), math.Float32bits(fma32Exact(c[0], c[1], c[2])), "fma32Exact(%g, %g, %g)", c[0], c[1], c[2])
		if fast, ok := FMA32Fast(c[0], c[1], c[2]); ok {
			require.Equal(t, math.Float32bits(want), math.Float32bits(fast), "FMA32Fast(%g, %g, %g) = %g, want %g", c[0], c[1], c[2], fast, want)
		} else if math.Abs(float64(want)) >= 0x1p-126 {
			declined++ // it declines every result below float32's normal range, by design
		}
		if float32(float64(c[0])*float64(c[1])+float64(c[2])) != want {
			wrongTwice++
		}
	}
	require.Positive(t, wrongTwice, "no case where rounding twice is wrong: the test is too easy")
	require.Less(t, declined, len(cases)/100, "FMA32Fast declines only the rare cases")
}
