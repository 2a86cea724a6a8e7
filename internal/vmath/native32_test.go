package vmath

import (
	"math"
	"testing"

	"github.com/stretchr/testify/require"
)

// ulp32Of64 is |got - ref| in float32 ulps of ref, for a float64 reference (an ulp of
// 2^(e-23) for 2^e ≤ |ref| < 2^(e+1), never less than the smallest subnormal).
func ulp32Of64(got float32, ref float64) float64 {
	if ref == 0 {
		if got == 0 {
			return 0
		}
		return math.Inf(1)
	}
	_, e := math.Frexp(ref) // ref = f·2^e with 0.5 ≤ |f| < 1
	return math.Abs(float64(got)-ref) / math.Ldexp(1, max(e-24, -149))
}

// sweep32 calls f with every stride-th float32 bit pattern, both signs, and the special
// values, subnormals and neighbours of the kernels' switch points and clamps.
func sweep32(stride uint32, f func(x float32)) {
	for b := uint32(0); b < 0x7f800000; b += stride {
		x := math.Float32frombits(b)
		f(x)
		f(-x)
	}
	for _, x := range []float32{0, 1, 0x1p-149, 0x1p-126, 0x1.fffffcp-127, 0.625, 10, 9.01, 19.07, 104, 103.97,
		float32(math.Inf(1)), float32(math.NaN()), math.MaxFloat32, 0x1p-24, 0x1p-12} {
		for _, v := range []float32{x, math.Nextafter32(x, 0), math.Nextafter32(x, float32(math.Inf(1)))} {
			f(v)
			f(-v)
		}
	}
}

func sameFloat32(a, b float32) bool {
	return math.Float32bits(a) == math.Float32bits(b) || a != a && b != b
}

// TestNative32Accuracy holds TanhInPlace32 and SigmoidInPlace32 to their stated bounds
// against math.Tanh and the float64 sigmoid (whose own errors, below 2⁻⁵⁰ relative, are
// far below a float32 ulp), over a dense sweep of the float32 line, and checks that NaN
// gives NaN and that ±0 and ±Inf give their exact results.
func TestNative32Accuracy(t *testing.T) {
	for _, fn := range []struct {
		name  string
		f32   func(a, deriv []float32)
		ref   func(float64) float64
		bound float64
	}{
		{"tanh", TanhInPlace32, math.Tanh, maxUlpTanh32},
		{"sigmoid", SigmoidInPlace32, func(x float64) float64 { return 1 / (1 + math.Exp(-x)) }, maxUlpSigmoid32},
	} {
		var xs []float32
		sweep32(4099, func(x float32) { xs = append(xs, x) })
		ys := append([]float32(nil), xs...)
		fn.f32(ys, nil)
		worst, at := 0.0, float32(0)
		for i, x := range xs {
			if x != x {
				require.True(t, ys[i] != ys[i], "%s(NaN) = %g", fn.name, ys[i])
				continue
			}
			if e := ulp32Of64(ys[i], fn.ref(float64(x))); e > worst {
				worst, at = e, x
			}
		}
		t.Logf("%s: worst error %.4f float32 ulp at %g over %d arguments", fn.name, worst, at, len(xs))
		require.LessOrEqual(t, worst, fn.bound, "%s(%g)", fn.name, at)
	}
}

// TestNative32Twins holds the AVX2 kernels to their Go twins bit for bit (NaNs agree as
// NaNs) over the sweep, with and without the derivative, in lengths that leave tails.
func TestNative32Twins(t *testing.T) {
	var xs []float32
	sweep32(65537, func(x float32) { xs = append(xs, x) })
	for _, fn := range []struct {
		name      string
		kernel, g func(a, deriv []float32)
	}{
		{"tanh", tanh32InPlace, tanh32Go},
		{"sigmoid", sigmoid32InPlace, sigmoid32Go},
	} {
		for _, n := range []int{len(xs), len(xs) - 3, 7, 9} {
			a, b := append([]float32(nil), xs[:n]...), append([]float32(nil), xs[:n]...)
			da, db := make([]float32, n), make([]float32, n)
			fn.kernel(a, da)
			fn.g(b, db)
			for i := range a {
				require.True(t, sameFloat32(a[i], b[i]), "%s(%g): kernel %g, twin %g", fn.name, xs[i], a[i], b[i])
				require.True(t, sameFloat32(da[i], db[i]), "%s'(%g): kernel %g, twin %g", fn.name, xs[i], da[i], db[i])
			}
			fn.kernel(a, nil)
			fn.g(b, nil)
			for i := range a {
				require.True(t, sameFloat32(a[i], b[i]), "%s(%s(%g)) without deriv", fn.name, fn.name, xs[i])
			}
		}
	}
}

// BenchmarkTanh32 and BenchmarkSigmoid32 time the float32 kernels with the derivative on
// 65,536 arguments spread over [-4, 4] (a layer's pre-activations), their Go twins, and
// the float64 kernels on widened values (widen), how the float32 kernels worked before.
func BenchmarkTanh32(b *testing.B) { benchNative32(b, tanh32InPlace, tanh32Go, false) }

func BenchmarkSigmoid32(b *testing.B) { benchNative32(b, sigmoid32InPlace, sigmoid32Go, true) }

func benchNative32(b *testing.B, kernel, twin func(a, deriv []float32), sigmoid bool) {
	for _, p := range []struct {
		name string
		f    func(a, deriv []float32)
	}{{"kernel", kernel}, {"go", twin}, {"widen", func(a, deriv []float32) { widened32(a, deriv, sigmoid) }}} {
		b.Run(p.name, func(b *testing.B) {
			src := make([]float32, 1<<16)
			for i := range src {
				src[i] = float32(i%4001-2000) / 500
			}
			a, d := make([]float32, len(src)), make([]float32, len(src))
			b.SetBytes(int64(4 * len(src)))
			for b.Loop() {
				copy(a, src)
				p.f(a, d)
			}
		})
	}
}

// widened32 is the float32 kernels' former method: widen a chunk to float64 on the stack,
// run the float64 kernel, round back, and write the derivative from the rounded value.
func widened32(a, deriv []float32, sigmoid bool) {
	var buf [256]float64
	for len(a) > 0 {
		n := min(len(a), len(buf))
		w := buf[:n]
		for i, v := range a[:n] {
			w[i] = float64(v)
		}
		if sigmoid {
			sigmoidInPlace(w, nil)
		} else {
			tanhInPlace(w, nil)
		}
		for i, v := range w {
			a[i] = float32(v)
		}
		derivFromValue32(deriv[:n], a[:n], sigmoid)
		a, deriv = a[n:], deriv[n:]
	}
}
