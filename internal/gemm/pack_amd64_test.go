//go:build amd64 && !purego

package gemm

import (
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestPackers checks the assembly packers against the Go ones on whole and edge slivers,
// shallow and deep, over scratch full of garbage: the packed slivers must be identical.
func TestPackers(t *testing.T) {
	if !hasAVX2 {
		t.Skip("no AVX2")
	}
	rng := rand.New(rand.NewPCG(11, 1))
	testPackers(t, rng, packCopyAVX2, packInterleaveAVX2, []int{4, 6, 8, 16})
	testPackers(t, rng, packCopyAVX2f32, packInterleaveAVX2f32, []int{6, 8, 16, 32})
}

func testPackers[T Float](t *testing.T, rng *rand.Rand, packCopy, packInterleave func(dst, src []T, ld, kc, w, r, next int), rs []int) {
	for _, r := range rs {
		for w := 1; w <= r; w++ {
			for _, kc := range []int{1, 3, 4, 7, 8, 9, 17, 256} {
				ld := max(kc, r) + rng.IntN(3)
				src := randSlice[T](rng, max(w, kc)*ld+r)
				for _, interleave := range []bool{false, true} {
					got, want := make([]T, kc*r), make([]T, kc*r)
					for i := range got {
						got[i], want[i] = 7, 9
					}
					next := []int{0, r, r * ld, -ld}[rng.IntN(4)]
					if interleave {
						packInterleave(got, src, ld, kc, w, r, next)
						packInterleaveGo(want, src, ld, kc, w, r, next)
					} else {
						packCopy(got, src, ld, kc, w, r, next)
						packCopyGo(want, src, ld, kc, w, r, next)
					}
					require.Equal(t, want, got, "interleave=%t r=%d w=%d kc=%d ld=%d", interleave, r, w, kc, ld)
				}
			}
		}
	}
}
