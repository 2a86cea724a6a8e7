package vmath

import "math"

// The native float32 kernels: TanhInPlace32's and SigmoidInPlace32's algorithm, that of
// the float64 kernels (see the package comment) with polynomials of float32 accuracy,
// every operation rounded to float32. The scalar code below is the reference and the Go
// twin of the assembly (vmath32_amd64.s), which performs the same IEEE operations in the
// same order: every fused multiply-add is FMA32 (VFMADD*PS, correctly rounded both), every
// other product is wrapped in float32(...) so that no compiler may fuse it.

// tanh on [0, tanh32SmallMax): z + z³·P(z²), P of degree 5 (Chebyshev fit of
// (tanh(z) - z)/z³ in t = z², error 1.6e-9 before rounding the coefficients to float32).
const (
	tanh32SmallMax float32 = 0.625

	tanh32P0 float32 = -0x1.555556p-2
	tanh32P1 float32 = 0x1.1110eap-3
	tanh32P2 float32 = -0x1.ba08c4p-5
	tanh32P3 float32 = 0x1.64a976p-6
	tanh32P4 float32 = -0x1.116a16p-7
	tanh32P5 float32 = 0x1.2c83cp-9

	// tanh32Clamp bounds z before exp(2z): tanh rounds to 1 in float32 from z = 9.01 on.
	tanh32Clamp float32 = 10
)

// exp(r) ≈ 1 + r·(1 + r·(1/2 + r·W(r))) on |r| ≤ ln2/2, W of degree 4 (Chebyshev fit of
// (exp(r) - 1 - r - r²/2)/r³, error 8e-9, which the factor r³ ≤ 0.042 shrinks further).
const (
	exp32W0 float32 = 0x1.555556p-3
	exp32W1 float32 = 0x1.55551ap-5
	exp32W2 float32 = 0x1.1110f6p-7
	exp32W3 float32 = 0x1.6d10fcp-10
	exp32W4 float32 = 0x1.a0f862p-13
)

// Argument reduction in float32: k = round(y·log2e), r = (y - k·ln2Hi32) - k·ln2Lo32.
// The first step is one fused multiply-add and exact: r is a multiple of 2⁻²⁴ (ln2Hi32's
// last bit, and finer than y's) below 2⁻¹ in magnitude, 23 bits.
const (
	log2e32 = float32(math.Log2E)
	ln2Hi32 = float32(math.Ln2)
	ln2Lo32 = float32(math.Ln2 - float64(ln2Hi32))

	// roundMagic32 is 1.5·2²³: adding it to |v| < 2²² rounds v to an integer held in the
	// low mantissa bits.
	roundMagic32 float32 = 0x1.8p23

	// one32Bits are the bits of float32 1; adding m<<23 to them gives 2^m.
	one32Bits = 0x3f800000
)

// sigmoid32Clamp bounds -|x| from below: exp(-104) is below half the smallest float32
// subnormal. sigmoid32ScaleBias is the extra power of two applied with the exponent bits
// and removed by a multiplication, so that exp(-|x|) rounds once into the subnormals.
const (
	sigmoid32Clamp     float32 = -104
	sigmoid32ScaleBias         = 32
	sigmoid32Unscale   float32 = 0x1p-32
)

// expReduce32 is expReduce in float32, for y in [-104, 20].
func expReduce32(y, magic float32) (kt, r float32) {
	kt = FMA32(y, log2e32, magic)
	k := kt - magic
	r = FMA32(-k, ln2Hi32, y) // exact
	r = FMA32(-k, ln2Lo32, r)
	return kt, r
}

// expQ32 returns q with exp(r) ≈ 1 + r·q, by Horner's scheme (the float32 kernels are
// short enough for the out-of-order core to overlap consecutive vectors anyway).
func expQ32(r float32) float32 {
	p := FMA32(exp32W4, r, exp32W3)
	p = FMA32(p, r, exp32W2)
	p = FMA32(p, r, exp32W1)
	p = FMA32(p, r, exp32W0)
	p = FMA32(p, r, 0.5)
	return FMA32(p, r, 1)
}

// tanhPoly32 returns P(t).
func tanhPoly32(t float32) float32 {
	p := FMA32(tanh32P5, t, tanh32P4)
	p = FMA32(p, t, tanh32P3)
	p = FMA32(p, t, tanh32P2)
	p = FMA32(p, t, tanh32P1)
	return FMA32(p, t, tanh32P0)
}

const sign32 = 1 << 31

func abs32(x float32) float32 { return math.Float32frombits(math.Float32bits(x) &^ sign32) }

// tanh32 is tanh(x) in float32 by tanh1's method.
func tanh32(x float32) float32 {
	z := abs32(x)
	var y float32
	if z >= tanh32SmallMax { // false for NaN, which the polynomial branch propagates
		d := min(z, tanh32Clamp)
		d += d
		kt, r := expReduce32(d, roundMagic32-1)
		sc := math.Float32frombits(math.Float32bits(kt)<<23 + one32Bits) // 2^(k-1), k ≥ 2
		// h = (exp(2z)+1)/2 = sc·(1 + r·q) + 1/2 with one rounding: r·sc and sc+1/2 are exact.
		h := FMA32(expQ32(r), float32(r*sc), sc+0.5)
		y = 1 - 1/h
	} else {
		t := float32(z * z)
		u := float32(z * t)
		y = FMA32(u, tanhPoly32(t), z)
	}
	return math.Float32frombits(math.Float32bits(y) | math.Float32bits(x)&sign32)
}

// sigmoid32 is 1/(1+exp(-x)) in float32 by sigmoid1's method.
func sigmoid32(x float32) float32 {
	if x != x {
		return x
	}
	y := max(-abs32(x), sigmoid32Clamp)
	kt, r := expReduce32(y, roundMagic32+sigmoid32ScaleBias)
	p := FMA32(expQ32(r), r, 1) // exp(r)
	// exp(y) = p·2^(k+32)·2^-32: the first product is exact (k+32 ≥ -118), the second
	// rounds once, into the subnormals if need be.
	u := float32(math.Float32frombits(math.Float32bits(p)+math.Float32bits(kt)<<23) * sigmoid32Unscale)
	num := float32(1)
	if math.Float32bits(x)&sign32 != 0 {
		num = u
	}
	d := 1 + u
	e := (1 - d) + u // 1+u = d+e exactly, as 1 ≥ u
	w := 1 / d
	s0 := float32(num * w)
	rho := FMA32(-s0, d, num) // num - s0·d
	c := FMA32(-s0, e, rho)   // num - s0·(1+u)
	return FMA32(c, w, s0)    // s0 + c/(1+u)
}

// tanh32Go and sigmoid32Go are the scalar loops, the twins and tails of the assembly.
func tanh32Go(a, deriv []float32) {
	for i, v := range a {
		a[i] = tanh32(v)
	}
	if deriv != nil {
		derivFromValue32Go(deriv, a, false)
	}
}

func sigmoid32Go(a, deriv []float32) {
	for i, v := range a {
		a[i] = sigmoid32(v)
	}
	if deriv != nil {
		derivFromValue32Go(deriv, a, true)
	}
}

// The stated error bounds of the float32 kernels, in float32 ulps of the exact result,
// which TestNative32Accuracy and TestFloat32Accuracy check. Over every 7th float32 bit
// pattern of magnitude in [1e-12, 110], both signs, the largest errors found were 1.17 ulp
// for tanh (just above the switch at 0.625) and 1.46 ulp for the sigmoid (x near -7).
const (
	maxUlpTanh32    = 1.25
	maxUlpSigmoid32 = 1.6
)
