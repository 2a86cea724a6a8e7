package vmath

import "math"

// TanhInPlace32 is TanhInPlace in float32: it replaces every a[i] by tanh(a[i]) and, when
// deriv != nil, writes deriv[i] = 1 - y² for the rounded result y with a single rounding.
//
// It computes in float32 throughout (tanh32: TanhInPlace's method with float32
// polynomials), eight lanes at a time in AVX2 where the CPU has it, the Go twin giving the
// same bits elsewhere. The result is within maxUlpTanh32 float32 ulp of the exact tanh
// (see the package comment); tanh(±0) = ±0, tanh(±Inf) = ±1, tanh(NaN) = NaN. a and deriv
// must not overlap. TanhInPlace32 panics if deriv is not nil and len(deriv) != len(a).
func TanhInPlace32(a, deriv []float32) {
	checkLengths32("TanhInPlace32", a, deriv)
	tanh32InPlace(a, deriv)
}

// SigmoidInPlace32 is SigmoidInPlace in float32: a[i] becomes 1/(1+exp(-a[i])) and, when
// deriv != nil, deriv[i] = s(1-s) for the rounded result s, computed as s - s² with a
// single rounding.
//
// As TanhInPlace32, it computes in float32 (sigmoid32), within maxUlpSigmoid32 float32 ulp
// of the exact sigmoid, subnormal results included. a and deriv must not overlap.
// SigmoidInPlace32 panics if deriv is not nil and len(deriv) != len(a).
func SigmoidInPlace32(a, deriv []float32) {
	checkLengths32("SigmoidInPlace32", a, deriv)
	sigmoid32InPlace(a, deriv)
}

func checkLengths32(fn string, a, deriv []float32) {
	if deriv != nil && len(deriv) != len(a) {
		panic(fnLengths(fn, len(deriv), len(a)))
	}
}

// FMA32Fast returns x*y + z rounded once to float32, and true, or false where it cannot
// tell cheaply, and FMA32 must be asked: it is small enough for the compiler to inline
// into a loop, where a call per element would cost more than the arithmetic. The
// product of two float32 values is exact in float64, so the float64 sum s rounds once;
// s rounded to float32 is the correctly rounded result when s is exact (its TwoSum error
// is zero) or when s lies neither halfway between two float32 values nor below float32's
// normal range. Otherwise, about one inexact operation in 2^29, it says false.
func FMA32Fast(x, y, z float32) (float32, bool) {
	xy, zz := float64(x)*float64(y), float64(z)
	s := xy + zz
	bp := s - xy
	b := math.Float64bits(s)
	// The TwoSum error is written out in the return, evaluated only for a midpoint or a
	// tiny s, which keeps the function within the inliner's budget (check with
	// -gcflags=-m=2 after a change); b<<1 drops the sign, so the comparison asks for a
	// biased exponent of at least 897, |s| >= 2^-126.
	return float32(s), b&(1<<29-1) != 1<<28 && b<<1 >= 897<<53 || (xy-(s-bp))+(zz-bp) == 0
}

// FMA32 returns x*y + z rounded once to float32, as the FMA instructions do, which
// package math offers only for float64 (package gemm's Go twins round with it too).
//
// math.FMA of the widened operands is x*y + z rounded once to float64 (one instruction on
// CPUs with FMA). Rounding that to float32 rounds twice, which gives the correctly rounded
// result except where the float64 result r is itself halfway between two float32 values
// (a float32 halfway point is a float64, so a second rounding can only go astray when the
// first one landed on it) or lies below float32's normal range, where halfway points sit
// elsewhere in the bits. Those rare cases take fma32Exact. A zero result is exact.
func FMA32(x, y, z float32) float32 {
	if y == 1 {
		// x*1 is exact, so this is one float32 addition, correctly rounded. It is common
		// (SGD's momentum step without dampening) and its float64 sum is often a halfway
		// point, exact, that the check below would send to fma32Exact.
		return x + z
	}
	r := math.FMA(float64(x), float64(y), float64(z))
	b := math.Float64bits(r)
	// The 29 bits float32 drops are 1 followed by zeros at a halfway point; float32's least
	// normal number is 2⁻¹²⁶, biased float64 exponent 1023 - 126. A zero r is an exact zero
	// (a float32 product is far above float64's underflow), with IEEE's sign in both.
	if b&(1<<29-1) != 1<<28 && ((b>>52)&0x7ff >= 1023-126 || b<<1 == 0) {
		return float32(r)
	}
	return fma32Exact(x, y, z)
}

// fma32Exact is FMA32 without math.FMA: the product of two float32 values is exact in
// float64, and so is the error of the float64 sum (TwoSum); rounding that sum to odd
// (nudging an inexact result with an even last bit one ulp towards the exact value) keeps
// enough information for the final rounding to float32, 29 bits narrower, to be the
// correct one.
func fma32Exact(x, y, z float32) float32 {
	xy, zz := float64(x)*float64(y), float64(z)
	s := xy + zz
	if s == 0 || math.IsInf(s, 0) || math.IsNaN(s) {
		return float32(s) // a zero sum of two float64 is exact; Inf and NaN propagate
	}
	bp := s - xy
	e := (xy - (s - bp)) + (zz - bp)
	if bits := math.Float64bits(s); e != 0 && bits&1 == 0 {
		if (e > 0) == (s > 0) {
			bits++ // the exact sum is larger in magnitude than s
		} else {
			bits--
		}
		s = math.Float64frombits(bits)
	}
	return float32(s)
}

// derivFromValue32Go writes the derivative from the activation's value y, with one
// rounding: s - s² for the sigmoid, 1 - y² for tanh. It is derivFromValue32's twin and tail;
// the two agree bit for bit but for the sign and payload of a NaN, which are the hardware's.
func derivFromValue32Go(deriv, y []float32, sigmoid bool) {
	deriv = deriv[:len(y)]
	for i, v := range y {
		if sigmoid {
			deriv[i] = FMA32(-v, v, v) // s - s²
		} else {
			deriv[i] = FMA32(-v, v, 1) // 1 - y²
		}
	}
}
