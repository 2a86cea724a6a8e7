package vmath

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

const benchLen = 4096

// benchInputs are pre-activation-like values, N(0, 1.5²): a third of them below 0.625 in
// magnitude. The vector kernels compute both branches anyway; the Go kernel branches.
func benchInputs() []float64 {
	rng := rand.New(rand.NewPCG(7, 7))
	x := make([]float64, benchLen)
	for i := range x {
		x[i] = 1.5 * rng.NormFloat64()
	}
	return x
}

// benchKernel times fn over benchLen elements per op, refreshing the input from src each
// time (a 32 KiB copy, included in the time) so that every op sees the same values.
// Besides the mean it reports the fastest single op: the machines this runs on are shared,
// and the minimum is the figure that other processes disturb least.
func benchKernel(b *testing.B, withDeriv bool, fn func(a, deriv []float64)) {
	src := benchInputs()
	a := make([]float64, benchLen)
	var deriv []float64
	if withDeriv {
		deriv = make([]float64, benchLen)
	}
	fastest := time.Duration(math.MaxInt64)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		copy(a, src)
		fn(a, deriv)
		fastest = min(fastest, time.Since(start))
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/benchLen, "ns/elem")
	b.ReportMetric(float64(fastest.Nanoseconds())/benchLen, "min-ns/elem")
}

func mathTanhLoop(a, deriv []float64) {
	for i, v := range a {
		y := math.Tanh(v)
		a[i] = y
		if deriv != nil {
			deriv[i] = 1 - y*y
		}
	}
}

// layerSigmoid is the scalar sigmoid pcnet's layer package used before this package.
func layerSigmoid(v float64) float64 {
	if v >= 0 {
		return 1 / (1 + math.Exp(-v))
	}
	z := math.Exp(v)
	return z / (1 + z)
}

func mathSigmoidLoop(a, deriv []float64) {
	for i, v := range a {
		y := layerSigmoid(v)
		a[i] = y
		if deriv != nil {
			deriv[i] = y * (1 - y)
		}
	}
}

// benchPaths runs each assembly kernel this CPU can run, the Go kernel and a math-package
// loop, with and without the derivative.
func benchPaths(b *testing.B, asm func(asmKernel) func(a, deriv []float64), pure, mathLoop func(a, deriv []float64), mathName string) {
	for _, d := range []struct {
		name  string
		deriv bool
	}{{"y", false}, {"y+deriv", true}} {
		for _, k := range asmKernels() {
			b.Run(k.name+"/"+d.name, func(b *testing.B) { benchKernel(b, d.deriv, asm(k)) })
		}
		b.Run("go/"+d.name, func(b *testing.B) { benchKernel(b, d.deriv, pure) })
		b.Run(mathName+"/"+d.name, func(b *testing.B) { benchKernel(b, d.deriv, mathLoop) })
	}
}

func BenchmarkTanh(b *testing.B) {
	benchPaths(b, func(k asmKernel) func(a, deriv []float64) { return k.tanh }, tanhGeneric, mathTanhLoop, "math.Tanh")
}

func BenchmarkSigmoid(b *testing.B) {
	benchPaths(b, func(k asmKernel) func(a, deriv []float64) { return k.sigmoid }, sigmoidGeneric, mathSigmoidLoop, "math.Exp")
}
