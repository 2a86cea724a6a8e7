package vmath

import (
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

var bigSweep = flag.Int("vmath.bigsweep", 1500, "arguments per range checked against the 256-bit reference")

const (
	// The bounds on the error against the exact result (256-bit reference). The largest
	// errors seen in long sweeps are 1.2 ulp for tanh (just above 0.625) and 1.6 ulp for
	// the sigmoid (x < 0); the tests log what they find.
	maxUlpTanhVsBig    = 1.5
	maxUlpSigmoidVsBig = 2.0
	// maxUlpVsMath bounds the distance to math.Tanh, itself up to 1.4 ulp off.
	maxUlpVsMath = 2
)

// sweepRange draws arguments from one region of the float64 line, with random signs.
type sweepRange struct {
	name string
	draw func(rng *rand.Rand) float64
}

func uniform(lo, hi float64) func(*rand.Rand) float64 {
	return func(rng *rand.Rand) float64 { return lo + rng.Float64()*(hi-lo) }
}

func logUniform(lo, hi float64) func(*rand.Rand) float64 {
	l, h := math.Log(lo), math.Log(hi)
	return func(rng *rand.Rand) float64 { return math.Exp(l + rng.Float64()*(h-l)) }
}

var sweepRanges = []sweepRange{
	{"dense near 0 [0,1e-3]", uniform(0, 1e-3)},
	{"subnormal", func(rng *rand.Rand) float64 { return math.Float64frombits(rng.Uint64() & (1<<52 - 1)) }},
	{"tiny [1e-300,1e-8]", logUniform(1e-300, 1e-8)},
	{"[1e-8,1]", logUniform(1e-8, 1)},
	{"[0.5,1]", uniform(0.5, 1)},
	{"0.625±1e-6 (branch switch)", uniform(tanhSmallMax-1e-6, tanhSmallMax+1e-6)},
	{"[1,20]", uniform(1, 20)},
	{"[18.5,19.5] (saturation)", uniform(18.5, 19.5)},
	{">20", logUniform(20, math.MaxFloat64)},
	{"any bits", func(rng *rand.Rand) float64 { return math.Float64frombits(rng.Uint64()) }},
}

func draws(r sweepRange, seed uint64, n int) []float64 {
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	xs := make([]float64, n)
	for i := range xs {
		x := r.draw(rng)
		if rng.IntN(2) == 0 {
			x = -x
		}
		xs[i] = x
	}
	return xs
}

// specials are arguments every check includes.
var specials = []float64{
	0, math.Copysign(0, -1), math.SmallestNonzeroFloat64, -math.SmallestNonzeroFloat64,
	0x1p-1022, 1e-300, -1e-8, 1e-8, 0.5, 0.549, -0.55,
	math.Nextafter(tanhSmallMax, 0), tanhSmallMax, -math.Nextafter(tanhSmallMax, 1),
	1, -1, 2, 19.06, 19.07, -19.1, 20, math.Nextafter(20, 21), 21, 354, 709, 710, 745, 746, 800,
	math.MaxFloat64, -math.MaxFloat64, math.Inf(1), math.Inf(-1), math.NaN(),
}

func TestTanhSpecialValues(t *testing.T) {
	negZero := math.Copysign(0, -1)
	tests := []struct {
		x, want, wantDeriv float64
	}{
		{0, 0, 1},
		{negZero, negZero, 1},
		{math.SmallestNonzeroFloat64, math.SmallestNonzeroFloat64, 1},
		{-1e-300, -1e-300, 1},
		{1e-9, 1e-9, 1},
		{19.1, 1, 0},
		{-25, -1, 0},
		{math.MaxFloat64, 1, 0},
		{math.Inf(1), 1, 0},
		{math.Inf(-1), -1, 0},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.x), func(t *testing.T) {
			// Eight copies go through the vector kernel, one more through the scalar tail.
			a, d := make([]float64, 9), make([]float64, 9)
			for i := range a {
				a[i] = tt.x
			}
			TanhInPlace(a, d)
			for i := range a {
				require.Equal(t, math.Float64bits(tt.want), math.Float64bits(a[i]), "tanh(%v)[%d] = %v", tt.x, i, a[i])
				require.Equal(t, tt.wantDeriv, d[i], "deriv at %v", tt.x)
			}
		})
	}
	t.Run("NaN", func(t *testing.T) {
		a, d := make([]float64, 5), make([]float64, 5)
		for i := range a {
			a[i] = math.NaN()
		}
		TanhInPlace(a, d)
		for i := range a {
			require.True(t, math.IsNaN(a[i]) && math.IsNaN(d[i]), "tanh(NaN)[%d] = %v, deriv %v", i, a[i], d[i])
		}
	})
}

func TestSigmoidSpecialValues(t *testing.T) {
	tests := []struct {
		x, want, wantDeriv float64
	}{
		{0, 0.5, 0.25},
		{math.Copysign(0, -1), 0.5, 0.25},
		{40, 1, 0},
		{-800, 0, 0},
		{math.Inf(1), 1, 0},
		{math.Inf(-1), 0, 0},
		{-745.2, 0, 0},
		{-745, 5e-324, 5e-324},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.x), func(t *testing.T) {
			a, d := make([]float64, 9), make([]float64, 9)
			for i := range a {
				a[i] = tt.x
			}
			SigmoidInPlace(a, d)
			for i := range a {
				require.Equal(t, tt.want, a[i], "sigmoid(%v)[%d]", tt.x, i)
				require.Equal(t, tt.wantDeriv, d[i], "deriv at %v", tt.x)
			}
		})
	}
	a := []float64{math.NaN(), math.NaN(), math.NaN(), math.NaN(), math.NaN()}
	SigmoidInPlace(a, nil)
	for i := range a {
		require.True(t, math.IsNaN(a[i]), "sigmoid(NaN)[%d] = %v", i, a[i])
	}
}

// TestTanhAccuracyVsMath sweeps millions of arguments through TanhInPlace (the assembly
// kernel where the CPU has one) and checks each against math.Tanh and, bit for bit,
// against the scalar Go kernel.
func TestTanhAccuracyVsMath(t *testing.T) {
	n := 400_000
	if testing.Short() {
		n = 20_000
	}
	for ri, r := range sweepRanges {
		t.Run(r.name, func(t *testing.T) {
			xs := append(draws(r, uint64(ri), n), specials...)
			a := append([]float64(nil), xs...)
			TanhInPlace(a, nil)
			worst, worstX := 0.0, 0.0
			for i, x := range xs {
				if g := tanh1(x); math.Float64bits(g) != math.Float64bits(a[i]) && !(math.IsNaN(g) && math.IsNaN(a[i])) {
					require.Failf(t, "vector and scalar kernels differ", "tanh(%v): TanhInPlace %v, tanh1 %v", x, a[i], g)
				}
				if e := ulpErr(a[i], math.Tanh(x)); e > worst {
					worst, worstX = e, x
				}
			}
			t.Logf("max %.3g ulp from math.Tanh at x = %v (%d arguments)", worst, worstX, len(xs))
			require.LessOrEqual(t, worst, float64(maxUlpVsMath), "tanh(%v)", worstX)
		})
	}
}

// TestTanhAccuracyVsBig checks a subset of the sweep against the exact tanh, rounded from a
// 256-bit evaluation of expm1(2|x|)/(expm1(2|x|)+2).
func TestTanhAccuracyVsBig(t *testing.T) {
	n := *bigSweep
	if testing.Short() {
		n /= 10
	}
	overall := 0.0
	for ri, r := range sweepRanges {
		xs := append(draws(r, uint64(100+ri), n), specials...)
		a := append([]float64(nil), xs...)
		TanhInPlace(a, nil)
		worst, worstX := 0.0, 0.0
		for i, x := range xs {
			if math.IsNaN(x) || math.IsInf(x, 0) {
				continue
			}
			if e := ulpErrBig(a[i], refTanh(x)); e > worst {
				worst, worstX = e, x
			}
		}
		t.Logf("%-28s max %.3f ulp at x = %v", r.name, worst, worstX)
		require.LessOrEqual(t, worst, maxUlpTanhVsBig, "%s: tanh(%v) = %v", r.name, worstX, tanh1(worstX))
		overall = max(overall, worst)
	}
	t.Logf("overall max %.3f ulp", overall)
}

func TestSigmoidAccuracyVsBig(t *testing.T) {
	n := *bigSweep
	if testing.Short() {
		n /= 10
	}
	ranges := append(sweepRanges[:len(sweepRanges):len(sweepRanges)],
		sweepRange{"[20,746] (tiny results for x<0)", uniform(20, 746)},
		sweepRange{"[700,746] (subnormal results)", uniform(700, 746)})
	overall := 0.0
	for ri, r := range ranges {
		xs := append(draws(r, uint64(200+ri), n), specials...)
		a := append([]float64(nil), xs...)
		SigmoidInPlace(a, nil)
		worst, worstX := 0.0, 0.0
		for i, x := range xs {
			if g := sigmoid1(x); math.Float64bits(g) != math.Float64bits(a[i]) && !(math.IsNaN(g) && math.IsNaN(a[i])) {
				require.Failf(t, "vector and scalar kernels differ", "sigmoid(%v): SigmoidInPlace %v, sigmoid1 %v", x, a[i], g)
			}
			if math.IsNaN(x) || math.IsInf(x, 0) || math.Abs(x) > 1000 {
				continue // the reference's series would take too long; the results are exact 0 or 1
			}
			if e := ulpErrBig(a[i], refSigmoid(x)); e > worst {
				worst, worstX = e, x
			}
		}
		t.Logf("%-32s max %.3f ulp at x = %v", r.name, worst, worstX)
		require.LessOrEqual(t, worst, maxUlpSigmoidVsBig, "%s: sigmoid(%v) = %v", r.name, worstX, sigmoid1(worstX))
		overall = max(overall, worst)
	}
	t.Logf("overall max %.3f ulp", overall)
}

// TestLengthsAndTails runs every length 0..37 at several offsets into a larger buffer,
// with and without deriv, and checks each element against the scalar kernel and that
// nothing outside the slices is touched.
func TestLengthsAndTails(t *testing.T) {
	const sentinel = 12345.678
	rng := rand.New(rand.NewPCG(3, 4))
	type kernel struct {
		name   string
		apply  func(a, deriv []float64)
		scalar func(float64) float64
		deriv  func(y float64) float64
	}
	tanhDeriv := func(y float64) float64 { return math.FMA(-y, y, 1) }
	sigmoidDeriv := func(s float64) float64 { return math.FMA(-s, s, s) }
	kernels := []kernel{
		{"tanh", TanhInPlace, tanh1, tanhDeriv},
		{"sigmoid", SigmoidInPlace, sigmoid1, sigmoidDeriv},
		{"tanh/go", tanhGeneric, tanh1, tanhDeriv},
		{"sigmoid/go", sigmoidGeneric, sigmoid1, sigmoidDeriv},
	}
	for _, k := range asmKernels() {
		kernels = append(kernels,
			kernel{"tanh/" + k.name, k.tanh, tanh1, tanhDeriv},
			kernel{"sigmoid/" + k.name, k.sigmoid, sigmoid1, sigmoidDeriv})
	}
	for _, k := range kernels {
		for n := range 38 {
			for _, off := range []int{0, 1, 3} {
				for _, withDeriv := range []bool{false, true} {
					name := fmt.Sprintf("%s/n=%d/off=%d/deriv=%v", k.name, n, off, withDeriv)
					buf := make([]float64, n+off+4)
					dbuf := make([]float64, n+off+4)
					for i := range buf {
						buf[i], dbuf[i] = sentinel, sentinel
					}
					xs := make([]float64, n)
					for i := range xs {
						xs[i] = 4 * rng.NormFloat64()
						if rng.IntN(8) == 0 {
							xs[i] = specials[rng.IntN(len(specials))]
						}
					}
					a := buf[off : off+n]
					copy(a, xs)
					var d []float64
					if withDeriv {
						d = dbuf[off : off+n]
					}
					k.apply(a, d)
					for i, x := range xs {
						want := k.scalar(x)
						require.True(t, sameFloat(want, a[i]), "%s: [%d] f(%v) = %v, want %v", name, i, x, a[i], want)
						if withDeriv {
							require.True(t, sameFloat(k.deriv(want), d[i]), "%s: deriv[%d] = %v, want %v", name, i, d[i], k.deriv(want))
						}
					}
					for i := range buf {
						if i < off || i >= off+n {
							require.Equal(t, sentinel, buf[i], "%s: a's buffer written at %d", name, i)
						}
						if i < off || i >= off+n || !withDeriv {
							require.Equal(t, sentinel, dbuf[i], "%s: deriv's buffer written at %d", name, i)
						}
					}
				}
			}
		}
	}
}

func sameFloat(a, b float64) bool {
	return math.Float64bits(a) == math.Float64bits(b) || (math.IsNaN(a) && math.IsNaN(b))
}

// TestKernelsAgree compares every assembly kernel this CPU can run with the Go kernels,
// bit for bit, including deriv.
func TestKernelsAgree(t *testing.T) {
	kernels := asmKernels()
	if len(kernels) == 0 {
		t.Skip("no assembly kernel on this CPU or build")
	}
	for _, k := range kernels {
		for ri, r := range sweepRanges {
			xs := append(draws(r, uint64(300+ri), 100_000), specials...)
			for _, f := range []struct {
				name      string
				asm, pure func(a, deriv []float64)
			}{{"tanh", k.tanh, tanhGeneric}, {"sigmoid", k.sigmoid, sigmoidGeneric}} {
				a, da := append([]float64(nil), xs...), make([]float64, len(xs))
				g, dg := append([]float64(nil), xs...), make([]float64, len(xs))
				f.asm(a, da)
				f.pure(g, dg)
				for i, x := range xs {
					require.True(t, sameFloat(g[i], a[i]) && sameFloat(dg[i], da[i]),
						"%s %s %s: f(%v): asm %v (deriv %v), go %v (deriv %v)", k.name, f.name, r.name, x, a[i], da[i], g[i], dg[i])
				}
			}
		}
	}
}

func TestDerivLengthMismatchPanics(t *testing.T) {
	require.PanicsWithValue(t, "vmath: TanhInPlace: len(deriv) = 3, want len(a) = 4", func() {
		TanhInPlace(make([]float64, 4), make([]float64, 3))
	})
	require.PanicsWithValue(t, "vmath: SigmoidInPlace: len(deriv) = 0, want len(a) = 2", func() {
		SigmoidInPlace(make([]float64, 2), []float64{})
	})
}

func TestNoAllocations(t *testing.T) {
	a, d := make([]float64, 4099), make([]float64, 4099)
	for i := range a {
		a[i] = float64(i%200-100) / 25
	}
	require.Zero(t, testing.AllocsPerRun(20, func() {
		TanhInPlace(a, d)
		TanhInPlace(a, nil)
		SigmoidInPlace(a, d)
		SigmoidInPlace(a, nil)
	}))
}

// FuzzTanh checks single arguments, through both the vector kernel and the scalar tail,
// against math.Tanh and the scalar kernel.
func FuzzTanh(f *testing.F) {
	for _, x := range specials {
		f.Add(x)
	}
	f.Add(0.6249999)
	f.Add(-3.7)
	f.Fuzz(func(t *testing.T, x float64) {
		a, d := []float64{x, x, x, x, x}, make([]float64, 5)
		TanhInPlace(a, d)
		want := tanh1(x)
		for i := range a {
			if !sameFloat(want, a[i]) || !sameFloat(math.FMA(-want, want, 1), d[i]) {
				t.Fatalf("tanh(%v): element %d is %v (deriv %v), scalar kernel gives %v", x, i, a[i], d[i], want)
			}
		}
		if e := ulpErr(want, math.Tanh(x)); e > maxUlpVsMath {
			t.Fatalf("tanh(%v) = %v, math.Tanh = %v: %.3g ulp apart", x, want, math.Tanh(x), e)
		}
		if math.Abs(x) < 1e300 {
			if e := ulpErrBig(want, refTanh(x)); e > maxUlpTanhVsBig {
				t.Fatalf("tanh(%v) = %v: %.3g ulp from the exact value", x, want, e)
			}
		}
	})
}

// FuzzSigmoid checks single arguments against the exact sigmoid and the scalar kernel.
func FuzzSigmoid(f *testing.F) {
	for _, x := range specials {
		f.Add(x)
	}
	f.Fuzz(func(t *testing.T, x float64) {
		a := []float64{x, x, x, x, x}
		SigmoidInPlace(a, nil)
		want := sigmoid1(x)
		for i := range a {
			if !sameFloat(want, a[i]) {
				t.Fatalf("sigmoid(%v): element %d is %v, scalar kernel gives %v", x, i, a[i], want)
			}
		}
		if math.IsNaN(x) != math.IsNaN(want) {
			t.Fatalf("sigmoid(%v) = %v", x, want)
		}
		if !math.IsNaN(x) && math.Abs(x) <= 1000 {
			if e := ulpErrBig(want, refSigmoid(x)); e > maxUlpSigmoidVsBig {
				t.Fatalf("sigmoid(%v) = %v: %.3g ulp from the exact value", x, want, e)
			}
		}
	})
}
