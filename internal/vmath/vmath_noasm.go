//go:build !amd64 || purego

package vmath

func asmKernels() []asmKernel { return nil }

func tanhInPlace(a, deriv []float64)    { tanhGeneric(a, deriv) }
func sigmoidInPlace(a, deriv []float64) { sigmoidGeneric(a, deriv) }
