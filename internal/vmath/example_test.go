package vmath_test

import (
	"fmt"

	"github.com/pcnet/pcnet/internal/vmath"
)

func ExampleTanhInPlace() {
	a := []float64{-2, -0.5, 0, 0.5, 2}
	deriv := make([]float64, len(a))
	vmath.TanhInPlace(a, deriv)
	for i := range a {
		fmt.Printf("tanh %.6f  1-tanh² %.6f\n", a[i], deriv[i])
	}
	// Output:
	// tanh -0.964028  1-tanh² 0.070651
	// tanh -0.462117  1-tanh² 0.786448
	// tanh 0.000000  1-tanh² 1.000000
	// tanh 0.462117  1-tanh² 0.786448
	// tanh 0.964028  1-tanh² 0.070651
}

func ExampleSigmoidInPlace() {
	a := []float64{-1, 0, 1}
	vmath.SigmoidInPlace(a, nil)
	fmt.Printf("%.6f\n", a)
	// Output:
	// [0.268941 0.500000 0.731059]
}
