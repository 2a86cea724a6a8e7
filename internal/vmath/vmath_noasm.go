//go:build !amd64 || purego

package vmath

func asmKernels() []asmKernel { return nil }

func tanhInPlace(a, deriv []float64)    { tanhGeneric(a, deriv) }
func sigmoidInPlace(a, deriv []float64) { sigmoidGeneric(a, deriv) }

func stepMax(e, j []float64, gamma float64, sq *squareSum) (size, change uint64) {
	return stepMaxGeneric(e, j, gamma, sq)
}

func diffMax(e, x, p []float64, sq *squareSum) (size, change uint64) {
	return diffMaxGeneric(e, x, p, sq)
}

func tanh32InPlace(a, deriv []float32)    { tanh32Go(a, deriv) }
func sigmoid32InPlace(a, deriv []float32) { sigmoid32Go(a, deriv) }

func setMax(e, c []float64, sq *squareSum) (size, change uint64) { return setMaxGeneric(e, c, sq) }
