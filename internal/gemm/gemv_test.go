package gemm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// bitsOf is s as the bit patterns of its elements, so that require.Equal tells -0 from +0
// and compares NaNs.
func bitsOf[T Float](s []T) []uint64 {
	out := make([]uint64, len(s))
	for i, v := range s {
		if is32[T]() {
			out[i] = uint64(math.Float32bits(float32(v)))
		} else {
			out[i] = math.Float64bits(float64(v))
		}
	}
	return out
}

// TestVectorKernelsMatchTwins calls each assembly vector kernel of this machine directly
// and its Go twin on the same operands, on lengths around every lane count and unroll of
// the loops (k not a multiple of the block, k = 1, n not a multiple of the column or row
// groups) and padded strides: they must agree bit for bit, and write nothing past out[n].
func TestVectorKernelsMatchTwins(t *testing.T) {
	if len(asmKernels()) == 0 {
		t.Skip("no assembly kernel on this machine")
	}
	rng := rand.New(rand.NewPCG(8, 1))
	for _, kr := range asmKernels() {
		testVectorTwins(t, rng, kr)
	}
	for _, kr := range asmKernels32() {
		testVectorTwins(t, rng, kr)
	}
}

// vectorLengths are the k and n the vector kernels are tried on: 1 to 33 (every tail of
// the blocks of 4, 8 and 16 elements the loops take), the 64-column group and its
// neighbours, and larger ones past the 256-column group.
var vectorLengths = func() []int {
	var ls []int
	for l := 1; l <= 33; l++ {
		ls = append(ls, l)
	}
	return append(ls, 63, 64, 65, 71, 128, 130, 257, 1000)
}()

func testVectorTwins[T Float](t *testing.T, rng *rand.Rand, kr microKernel[T]) {
	tw := twinOf(kr)
	for _, k := range vectorLengths {
		for _, n := range vectorLengths {
			if k*n > 1<<16 && rng.IntN(4) != 0 { // keep a sample of the largest
				continue
			}
			pad := rng.IntN(4)
			x := randSlice[T](rng, k)
			name := fmt.Sprintf("%s/k=%d/n=%d/pad=%d", kr.name, k, n, pad)
			t.Run(name, func(t *testing.T) {
				b := randSlice[T](rng, n*(k+pad))
				requireSameOut(t, "dots", n, func(out []T) { kr.dots(k, x, b, k+pad, n, out) }, func(out []T) { tw.dots(k, x, b, k+pad, n, out) })
				b = randSlice[T](rng, k*(n+pad))
				requireSameOut(t, "axpy", n, func(out []T) { kr.axpy(k, x, b, n+pad, n, out) }, func(out []T) { tw.axpy(k, x, b, n+pad, n, out) })
			})
		}
	}
	for _, n := range vectorLengths {
		s, b := T(2*rng.Float64()-1), randSlice[T](rng, n)
		// Scalars with long mantissas, so that an unfused merge rounds differently.
		alpha, beta := T(2*rng.Float64()-1), T(2*rng.Float64()-1)
		for _, ab := range [][2]T{{1, 0}, {0.5, T(math.Copysign(0, -1))}, {-1, 1}, {alpha, beta}} {
			c := randSlice[T](rng, n)
			if ab[1] == 0 {
				c[n-1] = T(math.NaN()) // not read when beta is zero
			}
			t.Run(fmt.Sprintf("%s/rank1/n=%d/alpha=%g/beta=%g", kr.name, n, ab[0], ab[1]), func(t *testing.T) {
				requireSameOut(t, "rank1", n, func(out []T) { copy(out, c); kr.rank1(n, s, b, out, ab[0], ab[1]) },
					func(out []T) { copy(out, c); tw.rank1(n, s, b, out, ab[0], ab[1]) })
			})
		}
	}
}

// requireSameOut runs asm and twin, each on its own n-element output followed by guard
// elements, and requires the same bits and the guards untouched.
func requireSameOut[T Float](t *testing.T, what string, n int, asm, twin func(out []T)) {
	t.Helper()
	const guard = 8
	got, want := make([]T, n+guard), make([]T, n+guard)
	for i := range guard {
		got[n+i], want[n+i] = 7, 7
	}
	asm(got[:n:n])
	twin(want[:n:n])
	require.Equal(t, bitsOf(want), bitsOf(got), "%s: the assembly and its twin differ (or the assembly wrote past out[%d])", what, n)
}
