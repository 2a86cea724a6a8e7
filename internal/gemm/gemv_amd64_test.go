//go:build amd64 && !purego

package gemm

import (
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestAVX2MatchesAVX512 checks that the AVX2 and AVX-512 kernels of a precision give the
// same bits: their tiles sum each element in the same order with the same FMAs, and their
// vector kernels differ at most in register width (axpy in float32), never in order.
func TestAVX2MatchesAVX512(t *testing.T) {
	if !hasAVX512 {
		t.Skip("no AVX-512 on this machine")
	}
	rng := rand.New(rand.NewPCG(9, 1))
	testSameBits(t, rng, avx2Kernel, avx512Kernel)
	testSameBits(t, rng, avx2Kernel32, avx512Kernel32)
}

func testSameBits[T Float](t *testing.T, rng *rand.Rand, k1, k2 microKernel[T]) {
	w := NewWorkspace[T]()
	for i, s := range shapes {
		for _, ab := range [][2]T{{1, 0}, {T(2*rng.Float64() - 1), T(2*rng.Float64() - 1)}} {
			p := newProblem(rng, i%2 == 1, i/2%2 == 1, s[0], s[1], s[2], rng.IntN(3), ab[0], ab[1])
			require.Equal(t, bitsOf(p.run(w, k1)), bitsOf(p.run(w, k2)), "%v: %s and %s differ", p, k1.name, k2.name)
		}
	}
}
