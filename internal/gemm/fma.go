package gemm

import (
	"math"

	"github.com/pcnet/pcnet/internal/vmath"
)

// fma returns x*y + z rounded once to T, as the FMA instructions of the assembly kernels
// do, so that the Go paths that must round like them (edge tiles, matrix-vector products,
// the kernels' Go twins) agree with them bit for bit.
func fma[T Float](x, y, z T) T {
	if is32[T]() {
		return T(vmath.FMA32(float32(x), float32(y), float32(z)))
	}
	return T(math.FMA(float64(x), float64(y), float64(z)))
}
