package pcnet

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pcnet/pcnet/layer"
	"github.com/pcnet/pcnet/tensor"
)

// setErrorLoop is setError's plain loop, the reference its vector pass must match bit
// for bit: e = c + 0, the maxima over the bits of |v| widened to float64, and the squares
// in vmath.SumSquares's order per run.
func setErrorLoop[T tensor.Float](e, c *tensor.Matrix[T]) layer.ErrorStats {
	r, n := e.Dims()
	if e.Stride == n && c.Stride == n {
		r, n = 1, r*n
	}
	var size, change uint64
	var squares float64
	for i := 0; i < r; i++ {
		er, cr := e.Data[i*e.Stride:i*e.Stride+n], c.Data[i*c.Stride:i*c.Stride+n]
		for k, v := range cr {
			d := er[k] - v
			v += 0
			er[k] = v
			size = max(size, math.Float64bits(math.Abs(float64(v))))
			change = max(change, math.Float64bits(math.Abs(float64(d))))
		}
		squares += layer.MeasureError(tensor.New(1, n, er)).Squares
	}
	return layer.ErrorStats{Size: math.Float64frombits(size), Change: math.Float64frombits(change), Squares: squares}
}

// TestSetError holds setError to its plain loop in both precisions, on contiguous and
// strided matrices, with -0 (which must become +0), infinities and NaN among the values.
func TestSetError(t *testing.T) {
	t.Run("f64", func(t *testing.T) { testSetError[float64](t) })
	t.Run("f32", func(t *testing.T) { testSetError[float32](t) })
}

func testSetError[T tensor.Float](t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 3))
	specials := []float64{math.Copysign(0, -1), math.Inf(1), math.Inf(-1), math.NaN(), 0}
	for _, tc := range []struct{ rows, cols, stride int }{{1, 1, 1}, {3, 7, 7}, {4, 33, 33}, {5, 17, 24}, {64, 256, 256}} {
		for _, special := range []bool{false, true} {
			name := fmt.Sprintf("%dx%d/stride=%d/special=%v", tc.rows, tc.cols, tc.stride, special)
			draw := func() *tensor.Matrix[T] {
				d := make([]T, (tc.rows-1)*tc.stride+tc.cols)
				for i := range d {
					d[i] = T(rng.NormFloat64())
					if special && rng.IntN(8) == 0 {
						d[i] = T(specials[rng.IntN(len(specials))])
					}
				}
				return &tensor.Matrix[T]{Rows: tc.rows, Cols: tc.cols, Stride: tc.stride, Data: d}
			}
			e, c := draw(), draw()
			ref := &tensor.Matrix[T]{Rows: e.Rows, Cols: e.Cols, Stride: e.Stride, Data: append([]T(nil), e.Data...)}
			got, want := setError(e, c), setErrorLoop(ref, c)
			for i, v := range ref.Data {
				require.Equal(t, math.Float64bits(float64(v)), math.Float64bits(float64(e.Data[i])), "%s: e[%d]", name, i)
			}
			require.Equal(t, math.Float64bits(want.Size), math.Float64bits(got.Size), "%s: size", name)
			require.Equal(t, math.Float64bits(want.Change), math.Float64bits(got.Change), "%s: change", name)
			require.Equal(t, math.Float64bits(want.Squares), math.Float64bits(got.Squares), "%s: squares", name)
		}
	}
}
