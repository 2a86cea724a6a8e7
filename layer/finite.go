package layer

import (
	"math"

	"github.com/pcnet/pcnet/internal/vmath"
	"github.com/pcnet/pcnet/tensor"
)

// FirstNonFinite returns the index of the first NaN or infinity in v, or -1 when every
// value is finite. The common case, all finite, costs one vectorised pass with no branch
// per value (vmath.AllFinite); only when it finds one is v scanned for its index.
func FirstNonFinite[T tensor.Float](v []T) int {
	if is32[T]() {
		if vmath.AllFinite32(as32(v)) {
			return -1
		}
	} else if vmath.AllFinite(as64(v)) {
		return -1
	}
	for i, x := range v {
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return i
		}
	}
	return -1
}
