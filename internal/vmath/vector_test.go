package vmath

import (
	"math"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// TestMomentumStep32 holds MomentumStep32 (the assembly where the CPU has it) to its Go
// twin bit for bit, at lengths with and without a tail, and to the formula with FMA32 on
// one element.
func TestMomentumStep32(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 18))
	fill := func(n int, scale float64) []float32 {
		s := make([]float32, n)
		for i := range s {
			s[i] = float32(scale * rng.NormFloat64())
		}
		return s
	}
	for _, c := range []struct {
		n                     int
		negLR, keep, momentum float32
	}{
		{0, -0.001, 1, 0.9}, {1, -0.001, 1, 0.9}, {7, -0.01, -1, 0.9}, {8, -0.001, 1, 0.9},
		{33, -0.1, 0.5, 0.99}, {1000, -0.001, -1, 0.9}, {4099, -3e-4, 0.75, 0.5},
	} {
		param, grad, buf := fill(c.n, 0.05), fill(c.n, 1e-3), fill(c.n, 1e-3)
		p2, b2 := append([]float32(nil), param...), append([]float32(nil), buf...)
		MomentumStep32(param, grad, buf, c.negLR, c.keep, c.momentum)
		momentumStep32Go(p2, grad, b2, c.negLR, c.keep, c.momentum)
		for i := range param {
			require.Equal(t, math.Float32bits(p2[i]), math.Float32bits(param[i]), "n=%d param[%d]", c.n, i)
			require.Equal(t, math.Float32bits(b2[i]), math.Float32bits(buf[i]), "n=%d buf[%d]", c.n, i)
		}
	}
	p, g, b := []float32{0.25}, []float32{3e-3}, []float32{-1e-3}
	wantB := FMA32(3e-3, 1, float32(float32(-1e-3)*0.9))
	wantP := FMA32(wantB, -0.001, 0.25)
	MomentumStep32(p, g, b, -0.001, 1, 0.9)
	require.Equal(t, wantB, b[0])
	require.Equal(t, wantP, p[0])
	require.Panics(t, func() { MomentumStep32(make([]float32, 2), make([]float32, 1), make([]float32, 2), -1, 1, 1) })
}

// TestMomentumStep is TestMomentumStep32 in float64.
func TestMomentumStep(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 64))
	fill := func(n int, scale float64) []float64 {
		s := make([]float64, n)
		for i := range s {
			s[i] = scale * rng.NormFloat64()
		}
		return s
	}
	for _, n := range []int{0, 1, 3, 4, 7, 33, 1000, 4099} {
		param, grad, buf := fill(n, 0.05), fill(n, 1e-3), fill(n, 1e-3)
		p2, b2 := append([]float64(nil), param...), append([]float64(nil), buf...)
		MomentumStep(param, grad, buf, -0.001, -1, 0.9)
		momentumStep64Go(p2, grad, b2, -0.001, -1, 0.9)
		for i := range param {
			require.Equal(t, math.Float64bits(p2[i]), math.Float64bits(param[i]), "n=%d param[%d]", n, i)
			require.Equal(t, math.Float64bits(b2[i]), math.Float64bits(buf[i]), "n=%d buf[%d]", n, i)
		}
	}
	require.Panics(t, func() { MomentumStep(make([]float64, 2), make([]float64, 2), make([]float64, 1), -1, 1, 1) })
}

// TestDerivFromValue32 holds the vector derivatives of tanh and the sigmoid to their Go
// twin bit for bit, tails and special values included.
func TestDerivFromValue32(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 32))
	for _, n := range []int{0, 1, 7, 8, 9, 64, 1001} {
		y := make([]float32, n)
		for i := range y {
			y[i] = float32(rng.Float64()*2 - 1)
		}
		if n > 8 {
			y[1], y[2], y[3] = 1, float32(math.Inf(-1)), float32(math.NaN())
		}
		for _, sigmoid := range []bool{false, true} {
			got, want := make([]float32, n), make([]float32, n)
			derivFromValue32(got, y, sigmoid)
			derivFromValue32Go(want, y, sigmoid)
			for i := range got {
				if math.IsNaN(float64(want[i])) {
					require.True(t, math.IsNaN(float64(got[i])), "n=%d sigmoid=%v y[%d]=%g: got %g", n, sigmoid, i, y[i], got[i])
					continue // a NaN's sign and payload are the hardware's
				}
				require.Equal(t, math.Float32bits(want[i]), math.Float32bits(got[i]), "n=%d sigmoid=%v y[%d]=%g", n, sigmoid, i, y[i])
			}
		}
	}
}

// TestMomentumStepSplit runs steps long enough to be cut in two on two cores, and one
// core, and holds them to the Go twins bit for bit; once warmed up, a split step
// allocates nothing.
func TestMomentumStepSplit(t *testing.T) {
	defer goleak.VerifyNone(t) // the helpers are joined before a step returns
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	rng := rand.New(rand.NewPCG(5, 2))
	n := splitMin + 13
	p32, g32, b32 := make([]float32, n), make([]float32, n), make([]float32, n)
	p64, g64, b64 := make([]float64, n), make([]float64, n), make([]float64, n)
	for i := range n {
		p64[i], g64[i], b64[i] = rng.NormFloat64(), 1e-3*rng.NormFloat64(), 1e-3*rng.NormFloat64()
		p32[i], g32[i], b32[i] = float32(p64[i]), float32(g64[i]), float32(b64[i])
	}
	for _, procs := range []int{2, 1, 3} {
		runtime.GOMAXPROCS(procs)
		w32, wb32 := append([]float32(nil), p32...), append([]float32(nil), b32...)
		w64, wb64 := append([]float64(nil), p64...), append([]float64(nil), b64...)
		MomentumStep32(p32, g32, b32, -0.01, 1, 0.9)
		momentumStep32Go(w32, g32, wb32, -0.01, 1, 0.9)
		MomentumStep(p64, g64, b64, -0.01, 1, 0.9)
		momentumStep64Go(w64, g64, wb64, -0.01, 1, 0.9)
		for i := range n {
			if p32[i] != w32[i] || b32[i] != wb32[i] || p64[i] != w64[i] || b64[i] != wb64[i] {
				t.Fatalf("GOMAXPROCS %d, element %d: got %g %g %g %g, want %g %g %g %g", procs, i, p32[i], b32[i], p64[i], b64[i], w32[i], wb32[i], w64[i], wb64[i])
			}
		}
	}
	runtime.GOMAXPROCS(2)
	allocs := testing.AllocsPerRun(5, func() {
		MomentumStep32(p32, g32, b32, -0.01, 1, 0.9)
		MomentumStep(p64, g64, b64, -0.01, 1, 0.9)
	})
	require.Zero(t, allocs)
}

// TestMomentumStepFinite checks the steps' answer to "is every new param finite?" in both
// precisions, where one param becomes an infinity (an overflow) or NaN (a NaN gradient)
// in the vector part, in the tail, or in either half of a split step, and where none does.
func TestMomentumStepFinite(t *testing.T) {
	defer goleak.VerifyNone(t)
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	runtime.GOMAXPROCS(2)
	for _, n := range []int{1, 7, 8, 37, 1000, splitMin + 13} {
		for _, at := range []int{-1, 0, n / 2, n - 1} {
			for _, bad := range []float64{math.MaxFloat64, math.NaN()} {
				p32, g32, b32 := make([]float32, n), make([]float32, n), make([]float32, n)
				p64, g64, b64 := make([]float64, n), make([]float64, n), make([]float64, n)
				for i := range n {
					p32[i], g32[i], p64[i], g64[i] = 1, 1e-3, 1, 1e-3
				}
				if at >= 0 {
					// keep·grad = bad, times -lr = 10: MaxFloat32 and MaxFloat64 overflow.
					g32[at], g64[at] = float32(bad), bad
					p32[at], p64[at] = math.MaxFloat32, math.MaxFloat64
				}
				require.Equal(t, at < 0, MomentumStep32(p32, g32, b32, -10, 1, 0.9), "n=%d at=%d bad=%g", n, at, bad)
				require.Equal(t, at < 0, MomentumStep(p64, g64, b64, -10, 1, 0.9), "n=%d at=%d bad=%g", n, at, bad)
			}
		}
	}
}
