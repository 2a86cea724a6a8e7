package layer

import (
	"math"

	"github.com/pcnet/pcnet/tensor"
)

// FirstNonFinite returns the index of the first NaN or infinity in v, or -1 when every
// value is finite. The common case, all finite, costs one pass of multiply-adds with no
// branch per value: v·0 is ±0 for a finite v and NaN otherwise.
func FirstNonFinite[T tensor.Float](v []T) int {
	var a0, a1, a2, a3 T
	i := 0
	for ; i+4 <= len(v); i += 4 {
		x := v[i : i+4 : i+4]
		a0 += x[0] * 0
		a1 += x[1] * 0
		a2 += x[2] * 0
		a3 += x[3] * 0
	}
	for ; i < len(v); i++ {
		a0 += v[i] * 0
	}
	if a0+a1+a2+a3 == 0 {
		return -1
	}
	for i, x := range v {
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return i
		}
	}
	return -1
}
