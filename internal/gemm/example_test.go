package gemm_test

import (
	"fmt"

	"github.com/pcnet/pcnet/internal/gemm"
)

// A dense layer's forward product y = v Wᵀ + b: the bias is put in C first and kept with
// beta = 1, and W (out x in) is used transposed without being copied.
func ExampleGemm() {
	v := []float64{ // batch 2 x in 3
		1, 2, 3,
		4, 5, 6,
	}
	w := []float64{ // out 2 x in 3
		1, 0, -1,
		0.5, 0.5, 0.5,
	}
	y := []float64{ // batch 2 x out 2, holding the bias
		10, 20,
		10, 20,
	}
	gemm.Gemm(false, true, 2, 2, 3, 1, v, 3, w, 3, 1, y, 2)
	fmt.Println(y)
	// Output:
	// [8 23 8 27.5]
}

// The same product in float32: Gemm is generic over the element type, and the float32
// kernels are the float64 ones with twice the lanes.
func ExampleGemm_float32() {
	v := []float32{1, 2, 3, 4, 5, 6}
	w := []float32{1, 0, -1, 0.5, 0.5, 0.5}
	y := []float32{10, 20, 10, 20}
	gemm.Gemm(false, true, 2, 2, 3, 1, v, 3, w, 3, 1, y, 2)
	fmt.Println(y)
	// Output:
	// [8 23 8 27.5]
}

// relu finishes a product's C with max(0, c), block by block.
type relu struct {
	c   []float64
	ldc int
}

func (r relu) Finish(i0, j0, m, n int) {
	for i := i0; i < i0+m; i++ {
		for j := j0; j < j0+n; j++ {
			r.c[i*r.ldc+j] = max(0, r.c[i*r.ldc+j])
		}
	}
}

// Two independent products as one batch: a layer's forward product with its activation
// applied to each block of C as the block is done, and a second product beside it.
func ExampleBatch() {
	v := []float64{1, 2, 3, 4, 5, 6}  // 2 x 3
	w := []float64{1, 0, -1, 1, 1, 1} // 2 x 3, used transposed
	y := make([]float64, 4)           // 2 x 2
	z := make([]float64, 4)           // 2 x 2: v times its own transpose's first two columns
	gemm.Batch(
		gemm.Product[float64]{TB: true, M: 2, N: 2, K: 3, Alpha: 1, A: v, Lda: 3, B: w, Ldb: 3, C: y, Ldc: 2, Then: relu{y, 2}},
		gemm.Product[float64]{TB: true, M: 2, N: 2, K: 3, Alpha: 1, A: v, Lda: 3, B: v, Ldb: 3, C: z, Ldc: 2},
	)
	fmt.Println(y, z)
	// Output:
	// [0 6 0 15] [14 32 32 77]
}
