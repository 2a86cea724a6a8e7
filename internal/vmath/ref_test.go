package vmath

import (
	"math"
	"math/big"
)

// refPrec is the precision of the reference results; far more than the 53 bits checked.
const refPrec = 256

// bigExpm1 returns exp(y)-1 for y ≥ 0: the Taylor series on y/2^m ≤ 2^-10, then m
// doublings expm1(2v) = expm1(v)·(expm1(v)+2), none of which cancels.
func bigExpm1(y *big.Float) *big.Float {
	v := new(big.Float).SetPrec(refPrec).Set(y)
	m := 0
	limit := big.NewFloat(0x1p-10)
	for v.Cmp(limit) > 0 {
		v.SetMantExp(v, -1)
		m++
	}
	sum := new(big.Float).SetPrec(refPrec).Set(v)
	term := new(big.Float).SetPrec(refPrec).Set(v)
	n := new(big.Float).SetPrec(refPrec)
	for i := 2; ; i++ {
		term.Mul(term, v)
		term.Quo(term, n.SetInt64(int64(i)))
		if term.Sign() == 0 || term.MantExp(nil) < sum.MantExp(nil)-refPrec-8 {
			break
		}
		sum.Add(sum, term)
	}
	two := big.NewFloat(2)
	t := new(big.Float).SetPrec(refPrec)
	for ; m > 0; m-- {
		t.Add(sum, two)
		sum.Mul(sum, t)
	}
	return sum
}

// refTanh is tanh(x) to refPrec bits for finite x: expm1(2|x|)/(expm1(2|x|)+2), which
// never cancels, with the sign of x. Beyond |x| = 40 it returns ±1, off by < 1e-34.
func refTanh(x float64) *big.Float {
	z := math.Abs(x)
	r := new(big.Float).SetPrec(refPrec)
	switch {
	case z == 0:
		r.SetFloat64(x)
		return r
	case z > 40:
		r.SetInt64(1)
	default:
		em := bigExpm1(new(big.Float).SetPrec(refPrec).SetFloat64(2 * z))
		den := new(big.Float).SetPrec(refPrec).Add(em, big.NewFloat(2))
		r.Quo(em, den)
	}
	if x < 0 {
		r.Neg(r)
	}
	return r
}

// refSigmoid is 1/(1+exp(-x)) to refPrec bits for finite x.
func refSigmoid(x float64) *big.Float {
	z := math.Abs(x)
	one := big.NewFloat(1)
	// e = exp(-z) = 1/(1+expm1(z))
	em := bigExpm1(new(big.Float).SetPrec(refPrec).SetFloat64(z))
	ez := new(big.Float).SetPrec(refPrec).Add(em, one)
	e := new(big.Float).SetPrec(refPrec).Quo(one, ez)
	den := new(big.Float).SetPrec(refPrec).Add(one, e)
	r := new(big.Float).SetPrec(refPrec)
	if x >= 0 {
		return r.Quo(one, den)
	}
	return r.Quo(e, den)
}

// ulpOf is the spacing of float64 values at the magnitude of ref (2^(e-52) for
// 2^e ≤ |ref| < 2^(e+1)), never less than the smallest subnormal.
func ulpOf(ref *big.Float) *big.Float {
	exp := ref.MantExp(nil) - 1 // ref = m·2^exp with 1 ≤ |m| < 2
	e := max(exp-52, -1074)
	return new(big.Float).SetMantExp(big.NewFloat(1), e)
}

// ulpErrBig is |got - ref| in ulps of ref. ±Inf and NaN are the caller's business.
func ulpErrBig(got float64, ref *big.Float) float64 {
	if ref.Sign() == 0 {
		if got == 0 {
			return 0
		}
		return math.Inf(1)
	}
	d := new(big.Float).SetPrec(refPrec).SetFloat64(got)
	d.Sub(d, ref)
	d.Abs(d)
	d.Quo(d, ulpOf(ref))
	f, _ := d.Float64()
	return f
}

// ulpErr is |got - want| in ulps of want, for float64 want (for example math.Tanh);
// 0 when both are NaN or equal, +Inf when exactly one is NaN or they differ at infinity.
func ulpErr(got, want float64) float64 {
	if got == want || (math.IsNaN(got) && math.IsNaN(want)) {
		return 0
	}
	if math.IsNaN(got) || math.IsNaN(want) || math.IsInf(got, 0) || math.IsInf(want, 0) {
		return math.Inf(1)
	}
	aw := math.Abs(want)
	ulp := math.Nextafter(aw, math.Inf(1)) - aw
	if aw == 0 {
		ulp = math.SmallestNonzeroFloat64
	}
	return math.Abs(got-want) / ulp
}
