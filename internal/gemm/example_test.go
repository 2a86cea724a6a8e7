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
