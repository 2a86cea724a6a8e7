package vmath

import "fmt"

// TanhInPlace replaces every a[i] by tanh(a[i]) and, when deriv != nil, writes
// deriv[i] = 1 - tanh(a[i])², computed from the rounded tanh with a single rounding.
//
// The result is within 1.2 ulp of the exact tanh in every test so far (see the package
// comment); tanh(±0) = ±0, tanh(±Inf) = ±1, tanh(NaN) = NaN. a and deriv must not overlap
// (deriv == a is not supported either). Every path gives the same bits for the same input.
// TanhInPlace panics if deriv is not nil and len(deriv) != len(a).
func TanhInPlace(a, deriv []float64) {
	checkLengths("TanhInPlace", a, deriv)
	tanhInPlace(a, deriv)
}

// SigmoidInPlace replaces every a[i] by 1/(1+exp(-a[i])) and, when deriv != nil, writes
// deriv[i] = s(1-s) for the rounded result s, with a single rounding.
//
// The result is within 1.6 ulp of the exact sigmoid in every test so far, including
// results in the subnormal range; s(+Inf) = 1, s(-Inf) = 0, s(NaN) = NaN. a and deriv
// must not overlap. SigmoidInPlace panics if deriv is not nil and len(deriv) != len(a).
func SigmoidInPlace(a, deriv []float64) {
	checkLengths("SigmoidInPlace", a, deriv)
	sigmoidInPlace(a, deriv)
}

func checkLengths(fn string, a, deriv []float64) {
	if deriv != nil && len(deriv) != len(a) {
		panic(fnLengths(fn, len(deriv), len(a)))
	}
}

func fnLengths(fn string, nd, na int) string {
	return fmt.Sprintf("vmath: %s: len(deriv) = %d, want len(a) = %d", fn, nd, na)
}

// asmKernel is one assembly variant of the kernels (asmKernels lists those this CPU and
// build can run), for the tests and benchmarks.
type asmKernel struct {
	name          string
	tanh, sigmoid func(a, deriv []float64)
}
