package vmath

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestElementwise holds Mul, Mul32, AddTo and AddTo32 (the assembly where the CPU has it)
// to their Go twins bit for bit, at lengths with and without a tail, with the
// destination aliasing an operand as Gate and the bias gradient use them.
func TestElementwise(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 7))
	for _, n := range []int{0, 1, 3, 4, 7, 8, 9, 31, 1000} {
		a, b := make([]float64, n), make([]float64, n)
		for i := range a {
			a[i], b[i] = rng.NormFloat64(), rng.NormFloat64()*1e-3
		}
		a32, b32 := make([]float32, n), make([]float32, n)
		for i := range a {
			a32[i], b32[i] = float32(a[i]), float32(b[i])
		}
		got, want := make([]float64, n), make([]float64, n)
		Mul(got, a, b)
		mul64Go(want, a, b)
		require.Equal(t, want, got, "Mul n=%d", n)
		got32, want32 := make([]float32, n), make([]float32, n)
		Mul32(got32, a32, b32)
		mul32Go(want32, a32, b32)
		require.Equal(t, want32, got32, "Mul32 n=%d", n)

		copy(got, a)
		copy(want, a)
		AddTo(got, b)
		addTo64Go(want, b)
		require.Equal(t, want, got, "AddTo n=%d", n)
		copy(got32, a32)
		copy(want32, a32)
		AddTo32(got32, b32)
		addTo32Go(want32, b32)
		require.Equal(t, want32, got32, "AddTo32 n=%d", n)

		ac := append([]float64(nil), a...)
		Mul(a, a, b) // in place, as Gate may
		mul64Go(want, ac, b)
		require.Equal(t, want, a, "Mul in place n=%d", n)
	}
	require.Panics(t, func() { Mul(make([]float64, 2), make([]float64, 2), make([]float64, 3)) })
	require.Panics(t, func() { AddTo32(make([]float32, 2), make([]float32, 1)) })
}

// TestAllFinite plants a NaN, an infinity of either sign or a huge finite value at every
// position of slices of several lengths (the vector body and the tail) and checks
// AllFinite and AllFinite32 against a plain scan.
func TestAllFinite(t *testing.T) {
	for _, n := range []int{0, 1, 7, 8, 15, 16, 17, 40} {
		v := make([]float64, n)
		v32 := make([]float32, n)
		for i := range v {
			v[i], v32[i] = float64(i)-3.5, float32(i)-3.5
		}
		require.True(t, AllFinite(v), "n=%d", n)
		require.True(t, AllFinite32(v32), "n=%d", n)
		for i := range n {
			for _, bad := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
				old, old32 := v[i], v32[i]
				v[i], v32[i] = bad, float32(bad)
				require.False(t, AllFinite(v), "n=%d, %g at %d", n, bad, i)
				require.False(t, AllFinite32(v32), "n=%d, %g at %d", n, bad, i)
				v[i], v32[i] = old, old32
			}
			old, old32 := v[i], v32[i]
			v[i], v32[i] = math.MaxFloat64, math.MaxFloat32
			require.True(t, AllFinite(v), "n=%d, max at %d", n, i)
			require.True(t, AllFinite32(v32), "n=%d, max at %d", n, i)
			v[i], v32[i] = old, old32
		}
	}
}
