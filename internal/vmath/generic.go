package vmath

import "math"

// The scalar kernels below are the reference algorithm. The assembly kernels perform the
// same IEEE operations in the same order, so every expression here that the assembly
// computes with a fused multiply-add is math.FMA, and every other product is wrapped in
// float64(...) so that no compiler may fuse it (the Go spec allows fusing x*y+z across
// statements unless the product is explicitly converted).

// expReduce splits y in [-746, 40] as y = k·ln2 + r with |r| ≤ ln2/2. It returns r and
// kt = k + magic, whose low 12 mantissa bits hold k+bias (mod 4096) when
// magic = roundMagic+bias.
func expReduce(y, magic float64) (kt, r float64) {
	kt = math.FMA(y, log2e, magic)
	k := kt - magic
	r = math.FMA(-k, ln2Hi, y) // exact
	r = math.FMA(-k, ln2Lo, r)
	return kt, r
}

// expQ returns q with exp(r) ≈ 1 + r·q for |r| ≤ ln2/2. Estrin's scheme rather than
// Horner's: a few more operations, but a dependency chain of 4 multiply-adds instead of
// 10, which lets the vector kernels overlap far more work.
func expQ(r float64) float64 {
	r2 := float64(r * r)
	r4 := float64(r2 * r2)
	a0 := math.FMA(expC2, r, expC1)
	a1 := math.FMA(expC4, r, expC3)
	a2 := math.FMA(expC6, r, expC5)
	a3 := math.FMA(expC8, r, expC7)
	a4 := math.FMA(expC10, r, expC9)
	b0 := math.FMA(a1, r2, a0)
	b1 := math.FMA(a3, r2, a2)
	b2 := math.FMA(expC11, r2, a4)
	return math.FMA(math.FMA(b2, r4, b1), r4, b0)
}

// pow2Bits returns 2^(k+bias) for kt from expReduce, as long as k+bias is in [-1022, 1023].
func pow2Bits(kt float64) float64 {
	return math.Float64frombits(math.Float64bits(kt)<<52 + oneBits)
}

// tanh1 is tanh(x) by the method described in the package comment.
func tanh1(x float64) float64 {
	z := math.Abs(x)
	var y float64
	if z >= tanhSmallMax { // false for NaN, which the polynomial branch propagates
		d := min(z, tanhClamp)
		d += d
		kt, r := expReduce(d, roundMagic-1)
		sc := pow2Bits(kt) // 2^(k-1), with k ≥ 2
		// h = (exp(2z)+1)/2 = sc·(1 + r·q) + 1/2 with one rounding: r·sc and sc+1/2 are exact.
		h := math.FMA(expQ(r), float64(r*sc), sc+0.5)
		y = 1 - 1/h
	} else {
		t := float64(z * z)
		u := float64(z * t)
		p := tanhPoly(t)
		y = math.FMA(u, p, z)
	}
	return math.Copysign(y, x)
}

// tanhPoly returns P(t) by Horner's scheme: in the vector kernels this branch runs beside
// the longer exp branch, so its latency is hidden and the fewer operations win.
func tanhPoly(t float64) float64 {
	p := math.FMA(tanhP10, t, tanhP9)
	p = math.FMA(p, t, tanhP8)
	p = math.FMA(p, t, tanhP7)
	p = math.FMA(p, t, tanhP6)
	p = math.FMA(p, t, tanhP5)
	p = math.FMA(p, t, tanhP4)
	p = math.FMA(p, t, tanhP3)
	p = math.FMA(p, t, tanhP2)
	p = math.FMA(p, t, tanhP1)
	return math.FMA(p, t, tanhP0)
}

// sigmoid1 is 1/(1+exp(-x)) by the method described in the package comment.
func sigmoid1(x float64) float64 {
	if x != x {
		return x
	}
	y := max(-math.Abs(x), sigmoidClamp)
	kt, r := expReduce(y, roundMagic+sigmoidScaleBias)
	p := math.FMA(expQ(r), r, 1) // exp(r)
	// exp(y) = p·2^(k+64)·2^-64: the first product is exact (k+64 ≥ -1012), the second
	// rounds once, into the subnormals if need be.
	u := float64(math.Float64frombits(math.Float64bits(p)+math.Float64bits(kt)<<52) * 0x1p-64)
	// s = num/(1+u) with num = 1 for x ≥ 0 and u for x < 0, divided once and corrected
	// once: without the correction, the roundings of 1+u and of the quotient add up to
	// 2.2 ulp for x < 0.
	num := 1.0
	if math.Signbit(x) {
		num = u
	}
	d := 1 + u
	e := (1 - d) + u // 1+u = d+e exactly, as 1 ≥ u
	w := 1 / d
	s0 := float64(num * w)
	rho := math.FMA(-s0, d, num) // num - s0·d, exact
	c := math.FMA(-s0, e, rho)   // num - s0·(1+u)
	return math.FMA(c, w, s0)    // s0 + c/(1+u)
}

func tanhGeneric(a, deriv []float64) {
	if deriv == nil {
		for i, v := range a {
			a[i] = tanh1(v)
		}
		return
	}
	deriv = deriv[:len(a)]
	for i, v := range a {
		y := tanh1(v)
		a[i] = y
		deriv[i] = math.FMA(-y, y, 1)
	}
}

func sigmoidGeneric(a, deriv []float64) {
	if deriv == nil {
		for i, v := range a {
			a[i] = sigmoid1(v)
		}
		return
	}
	deriv = deriv[:len(a)]
	for i, v := range a {
		s := sigmoid1(v)
		a[i] = s
		deriv[i] = math.FMA(-s, s, s)
	}
}
