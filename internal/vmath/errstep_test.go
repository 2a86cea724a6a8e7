package vmath

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// maxAbs is the reference maximum: math.Abs and a comparison, NaN winning over all.
func maxAbs(v []float64) float64 {
	m := 0.0
	for _, x := range v {
		if math.IsNaN(x) {
			return math.NaN()
		}
		m = math.Max(m, math.Abs(x))
	}
	return m
}

// requireSameMax checks a returned maximum against the reference: equal, or both NaN.
func requireSameMax(t *testing.T, want, got float64, what string) {
	t.Helper()
	if math.IsNaN(want) {
		require.True(t, math.IsNaN(got), "%s: got %v, want NaN", what, got)
		return
	}
	require.Equal(t, want, got, what)
}

// plantedSpecials plants a special value at position at (if it is in range).
var plantedSpecials = []struct {
	name string
	v    float64
	at   int
}{
	{"none", 0, -1},
	{"NaN first", math.NaN(), 0},
	{"NaN in the vector part", math.NaN(), 9},
	{"NaN in the tail", math.NaN(), 34},
	{"+Inf", math.Inf(1), 5},
	{"-Inf", math.Inf(-1), 17},
	{"-0", math.Copysign(0, -1), 3},
	{"subnormal", 5e-324, 12},
}

// TestStepMaxAndDiffMax checks StepMax, DiffMax and SetMax against plain loops and their
// Go kernels bit for bit.
func TestStepMaxAndDiffMax(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 0))
	for n := 0; n <= 37; n++ {
		for _, sp := range plantedSpecials {
			for _, gamma := range []float64{1, 0.3} {
				name := fmt.Sprintf("n=%d/%s/gamma=%v", n, sp.name, gamma)
				draw := func() []float64 {
					v := make([]float64, n)
					for i := range v {
						v[i] = rng.NormFloat64() * math.Exp2(float64(rng.IntN(20)-10))
					}
					return v
				}
				e, j, x, p := draw(), draw(), draw(), draw()
				if sp.at >= 0 && sp.at < n {
					j[sp.at], p[sp.at] = sp.v, sp.v
				}

				// StepMax against the plain loop.
				got, want := append([]float64(nil), e...), append([]float64(nil), e...)
				steps := make([]float64, n)
				for i := range want {
					steps[i] = gamma * (want[i] - j[i])
					want[i] -= steps[i]
				}
				size, change, squares := StepMax(got, j, gamma)
				requireSameBits(t, want, got, name)
				requireSameMax(t, maxAbs(want), size, name+": size")
				requireSameMax(t, maxAbs(steps), change, name+": change")
				requireSquares(t, want, squares, name)
				// Every path gives the same bits as the Go kernel, NaN payloads included.
				gen := append([]float64(nil), e...)
				var sq squareSum
				gs, gc := stepMaxGeneric(gen, j, gamma, &sq)
				require.Equal(t, gs, math.Float64bits(size), name)
				require.Equal(t, gc, math.Float64bits(change), name)
				require.Equal(t, math.Float64bits(sq.total()), math.Float64bits(squares), name)

				// DiffMax against the plain loop.
				got, want = append([]float64(nil), e...), make([]float64, n)
				diffs := make([]float64, n)
				for i := range want {
					want[i] = x[i] - p[i]
					diffs[i] = want[i] - e[i]
				}
				size, change, squares = DiffMax(got, x, p)
				requireSameBits(t, want, got, name)
				requireSameMax(t, maxAbs(want), size, name+": size")
				requireSameMax(t, maxAbs(diffs), change, name+": change")
				requireSquares(t, want, squares, name)
				gen = append([]float64(nil), e...)
				sq = squareSum{}
				gs, gc = diffMaxGeneric(gen, x, p, &sq)
				require.Equal(t, gs, math.Float64bits(size), name)
				require.Equal(t, gc, math.Float64bits(change), name)
				require.Equal(t, math.Float64bits(sq.total()), math.Float64bits(squares), name)

				// SetMax against the plain loop (p holds the planted -0, which must become +0).
				got, want = append([]float64(nil), e...), make([]float64, n)
				for i := range want {
					want[i] = p[i] + 0
					diffs[i] = e[i] - p[i]
				}
				size, change, squares = SetMax(got, p)
				requireSameBits(t, want, got, name)
				requireSameMax(t, maxAbs(want), size, name+": size")
				requireSameMax(t, maxAbs(diffs), change, name+": change")
				requireSquares(t, want, squares, name)
				gen = append([]float64(nil), e...)
				sq = squareSum{}
				gs, gc = setMaxGeneric(gen, p, &sq)
				require.Equal(t, gs, math.Float64bits(size), name)
				require.Equal(t, gc, math.Float64bits(change), name)
				require.Equal(t, math.Float64bits(sq.total()), math.Float64bits(squares), name)
			}
		}
	}
}

// requireSquares checks a kernel's sum of squares of v: bit for bit SumSquares's, and
// within a few ulp of the plain sequential sum (NaN and +Inf where the sum has them).
func requireSquares(t *testing.T, v []float64, got float64, name string) {
	t.Helper()
	require.Equal(t, math.Float64bits(SumSquares(v)), math.Float64bits(got), "%s: squares against SumSquares", name)
	plain := 0.0
	for _, x := range v {
		plain += x * x
	}
	if math.IsNaN(plain) || math.IsInf(plain, 0) {
		require.Equal(t, math.IsNaN(plain), math.IsNaN(got), "%s: squares %v, plain sum %v", name, got, plain)
		require.Equal(t, math.IsInf(plain, 1), math.IsInf(got, 1), "%s: squares %v, plain sum %v", name, got, plain)
		return
	}
	if plain == 0 {
		require.Zero(t, got, "%s: squares of zeros", name)
		return
	}
	require.InEpsilon(t, plain, got, 1e-14, "%s: squares against the plain sum", name)
}

func TestSumSquaresOrder(t *testing.T) {
	// Lanes 0..7 of one block, then a tail of two: the order SumSquares documents.
	v := []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	l := func(i int) float64 { return v[i] * v[i] }
	want := ((l(0) + l(1)) + (l(2) + l(3))) + ((l(4) + l(5)) + (l(6) + l(7))) + l(8) + l(9)
	require.Equal(t, want, SumSquares(v))
	require.Equal(t, 0.0, SumSquares(nil))
}

func requireSameBits(t *testing.T, want, got []float64, name string) {
	t.Helper()
	require.Len(t, got, len(want))
	for i := range want {
		require.Equal(t, math.Float64bits(want[i]), math.Float64bits(got[i]), "%s: element %d", name, i)
	}
}

func TestStepMaxPanicsOnLengthMismatch(t *testing.T) {
	require.PanicsWithValue(t, "vmath: StepMax: operand length 3, want len(e) = 4", func() {
		StepMax(make([]float64, 4), make([]float64, 3), 1)
	})
	require.PanicsWithValue(t, "vmath: DiffMax: operand length 5, want len(e) = 4", func() {
		DiffMax(make([]float64, 4), make([]float64, 4), make([]float64, 5))
	})
}

func BenchmarkStepMax(b *testing.B) {
	e, j := make([]float64, 4096), make([]float64, 4096)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range e {
		e[i], j[i] = rng.NormFloat64(), rng.NormFloat64()
	}
	b.Run("kernel=plain", func(b *testing.B) {
		for b.Loop() {
			for i := range e {
				e[i] -= 0.5 * (e[i] - j[i])
			}
		}
	})
	b.Run("kernel=generic", func(b *testing.B) {
		for b.Loop() {
			var sq squareSum
			stepMaxGeneric(e, j, 0.5, &sq)
		}
	})
	b.Run("kernel=dispatch", func(b *testing.B) {
		for b.Loop() {
			StepMax(e, j, 0.5)
		}
	})
}
