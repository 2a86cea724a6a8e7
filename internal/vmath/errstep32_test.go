package vmath

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// The float32 twins against the plain float32 loops they document, element by element,
// and their figures against the same figures computed naively.
func TestErrorKernels32(t *testing.T) {
	rng := rand.New(rand.NewPCG(32, 1))
	for _, n := range []int{0, 1, 7, 8, 9, 31, 64, 100} {
		e, j, x, p := make([]float32, n), make([]float32, n), make([]float32, n), make([]float32, n)
		for i := range n {
			e[i], j[i] = float32(rng.NormFloat64()), float32(rng.NormFloat64())
			x[i], p[i] = float32(rng.NormFloat64()), float32(rng.NormFloat64())
		}
		gamma := 0.1
		g := float32(gamma)
		want := append([]float32(nil), e...)
		var size, change float64
		for i := range want {
			d := g * (want[i] - j[i])
			want[i] -= d
			size = max(size, math.Abs(float64(want[i])))
			change = max(change, math.Abs(float64(d)))
		}
		got := append([]float32(nil), e...)
		s, c, sq := StepMax32(got, j, gamma)
		require.Equal(t, want, got, "n=%d", n)
		require.Equal(t, [2]float64{size, change}, [2]float64{s, c}, "n=%d", n)
		require.Equal(t, SumSquares32(got), sq, "n=%d", n)
		require.InDelta(t, naiveSquares(got), sq, 1e-12*float64(n+1), "n=%d", n)

		d := append([]float32(nil), e...)
		s, c, sq = DiffMax32(d, x, p)
		size, change = 0, 0
		for i := range d {
			require.Equal(t, x[i]-p[i], d[i])
			size = max(size, math.Abs(float64(d[i])))
			change = max(change, math.Abs(float64(d[i]-e[i])))
		}
		require.Equal(t, [2]float64{size, change}, [2]float64{s, c}, "n=%d", n)
		require.Equal(t, SumSquares32(d), sq, "n=%d", n)
	}
}

// SumSquares32 adds in SumSquares's order: on values exact in float32 it gives SumSquares's
// result bit for bit.
func TestSumSquares32Order(t *testing.T) {
	rng := rand.New(rand.NewPCG(32, 2))
	for _, n := range []int{5, 8, 13, 77} {
		v32, v64 := make([]float32, n), make([]float64, n)
		for i := range v32 {
			v32[i] = float32(rng.NormFloat64() * 1e3)
			v64[i] = float64(v32[i])
		}
		require.Equal(t, SumSquares(v64), SumSquares32(v32), "n=%d", n)
	}
}

func TestErrorKernels32NaN(t *testing.T) {
	e := []float32{1, float32(math.NaN()), 2}
	s, _, _ := StepMax32(e, make([]float32, 3), 0.5)
	require.True(t, math.IsNaN(s))
	require.PanicsWithValue(t, "vmath: StepMax32: operand length 2, want len(e) = 3", func() { StepMax32(e, make([]float32, 2), 1) })
	require.PanicsWithValue(t, "vmath: DiffMax32: operand lengths 3 and 1, want len(e) = 3", func() { DiffMax32(e, make([]float32, 3), make([]float32, 1)) })
}

func naiveSquares(v []float32) float64 {
	var s float64
	for _, x := range v {
		s += float64(x) * float64(x)
	}
	return s
}
