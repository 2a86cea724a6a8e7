package pcnet

import (
	"math"

	"github.com/pcnet/pcnet/internal/vmath"
	"github.com/pcnet/pcnet/layer"
	"github.com/pcnet/pcnet/tensor"
)

// setError is FPA-PC's error step with gamma = 1, e <- e - (e - c), written as the value
// it has in exact arithmetic: e <- c + 0 (the +0 turns a -0 into +0, as the formula does).
// It returns the figures layer.FixedPredictionErrorStepStats returns: max|e|, the step's
// max|e_old - c| and Σe² summed in vmath.SumSquares's order over the same runs of
// elements (the whole matrix when it is contiguous, else row by row), so that where the
// formula gives c, as it does on a chain, the two report the same bits.
func setError[T tensor.Float](e, c *tensor.Matrix[T]) layer.ErrorStats {
	r, n := e.Dims()
	if c.Rows != r || c.Cols != n {
		panic(&layer.ShapeError{Op: "pcnet.setError", What: "cotangent", Got: [2]int{c.Rows, c.Cols}, Want: [2]int{r, n}})
	}
	if e.Stride == n && c.Stride == n {
		r, n = 1, r*n
	}
	var size, change uint64 // the bits of non-negative float64s (or NaN) order as the values
	var squares float64
	for i := 0; i < r; i++ {
		er, cr := e.Data[i*e.Stride:i*e.Stride+n], c.Data[i*c.Stride:i*c.Stride+n]
		// One vector pass (internal/vmath) sets the run and takes its figures.
		var s, d, q float64
		switch er := any(er).(type) {
		case []float64:
			s, d, q = vmath.SetMax(er, any(cr).([]float64))
		case []float32:
			s, d, q = vmath.SetMax32(er, any(cr).([]float32))
		}
		size, change = max(size, math.Float64bits(s)), max(change, math.Float64bits(d))
		squares += q
	}
	return layer.ErrorStats{Size: math.Float64frombits(size), Change: math.Float64frombits(change), Squares: squares}
}
