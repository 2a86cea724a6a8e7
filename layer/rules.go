package layer

import (
	"math"

	"github.com/pcnet/pcnet/internal/vmath"
	"github.com/pcnet/pcnet/tensor"
)

// The inference rules of the predictive-coding variants, one node at a time. They work on
// whole matrices of the same shape (B x n) and never allocate. jte is always the input
// VJP Jᵀ(π e) of the layer above, already computed by Dense.InputVJP.

// PredictionError writes e = x - p: the error of a node at state x under prediction p.
// It is PredictionErrorStats with the maxima dropped: they cost nothing measurable next to
// the memory traffic, and one kernel keeps a watched and an unwatched network identical.
func PredictionError[T tensor.Float](e, x, p *tensor.Matrix[T]) {
	predictionError("PredictionError", e, x, p)
}

// StateStep integrates the state of a node under standard (variational) PC, Z-IL and the
// variance-scaled limit: x <- x - gamma * (pi*e - jte). pi and gamma are rounded to T once,
// as PyTorch rounds a Python float that multiplies a float32 tensor; every product is
// rounded before the next operation (no fused multiply-add).
func StateStep[T tensor.Float](x, e, jte *tensor.Matrix[T], pi, gamma float64) {
	p, g := T(pi), T(gamma)
	forEach3("StateStep", x, e, jte, func(x, e, j []T) {
		for i := range x {
			x[i] -= T(g * (T(p*e[i]) - j[i]))
		}
	})
}

// FixedPredictionErrorStep integrates the error of a node under the fixed-prediction
// assumption (FPA-PC), where x = mu + e and the prediction mu is frozen:
// e <- e - gamma * (e - jte). Integrating e, not x, keeps small errors from being rounded
// away against a large mu.
// It is FixedPredictionErrorStepStats with the maxima dropped, as PredictionError.
func FixedPredictionErrorStep[T tensor.Float](e, jte *tensor.Matrix[T], gamma float64) {
	fixedPredictionErrorStep("FixedPredictionErrorStep", e, jte, gamma)
}

// ScaleInto writes dst = s * src (the precision-weighted error π e sent downwards), with s
// rounded to T.
func ScaleInto[T tensor.Float](dst, src *tensor.Matrix[T], s float64) {
	st := T(s)
	forEach2("ScaleInto", dst, src, func(d, x []T) {
		if s == 1 {
			copy(d, x)
			return
		}
		for i := range d {
			d[i] = st * x[i]
		}
	})
}

func forEach2[T tensor.Float](op string, ar, br *tensor.Matrix[T], f func(a, b []T)) {
	r, c := ar.Dims()
	mustShape(op, "operand", br, r, c)
	if ar.Stride == c && br.Stride == c { // contiguous: one call, one vector loop
		f(ar.Data[:r*c], br.Data[:r*c])
		return
	}
	for i := 0; i < r; i++ {
		f(ar.Data[i*ar.Stride:i*ar.Stride+c], br.Data[i*br.Stride:i*br.Stride+c])
	}
}

func forEach3[T tensor.Float](op string, ar, br, dr *tensor.Matrix[T], f func(a, b, d []T)) {
	r, c := ar.Dims()
	mustShape(op, "operand", br, r, c)
	mustShape(op, "operand", dr, r, c)
	if ar.Stride == c && br.Stride == c && dr.Stride == c {
		f(ar.Data[:r*c], br.Data[:r*c], dr.Data[:r*c])
		return
	}
	for i := 0; i < r; i++ {
		f(ar.Data[i*ar.Stride:i*ar.Stride+c], br.Data[i*br.Stride:i*br.Stride+c], dr.Data[i*dr.Stride:i*dr.Stride+c])
	}
}

// The ...Stats forms of the rules below also return max|e| and max|Δe| of the error they
// write, and Σe² (a node's energy term without pi_l/2), measured in the same pass (by
// vmath's kernels, vectorised on amd64) so that an observed network pays little for
// watching. A NaN anywhere makes the maximum NaN, an infinity makes it +Inf.

// PredictionErrorStats is PredictionError that also returns the ErrorStats of the new e,
// with Change max|e_new - e_old|, where e_old is e's content on entry.
func PredictionErrorStats[T tensor.Float](e, x, p *tensor.Matrix[T]) ErrorStats {
	return predictionError("PredictionErrorStats", e, x, p)
}

// FixedPredictionErrorStepStats is FixedPredictionErrorStep that also returns the
// ErrorStats of the new e, with Change max|gamma (e - jte)|, the size of the step.
func FixedPredictionErrorStepStats[T tensor.Float](e, jte *tensor.Matrix[T], gamma float64) ErrorStats {
	return fixedPredictionErrorStep("FixedPredictionErrorStepStats", e, jte, gamma)
}

// ErrorStats are the figures of an error matrix that an observer reports, in float64 in
// either precision: the maxima of float32 errors widen exactly, and their squares are
// summed in float64.
type ErrorStats struct {
	Size    float64 // max|e|
	Change  float64 // max|Δe| of the rule that formed e (0 from MeasureError)
	Squares float64 // Σe² over every element, in the order of vmath.SumSquares per row
}

// MeasureError returns max|e| and Σe² of m, as the Stats rules measure them (a NaN
// anywhere makes the maximum NaN; the squares are summed row by row in the kernels'
// order): for an error no rule formed, such as FPA's e_l(0), so that what is reported is
// the buffer's content rather than what it ought to hold.
func MeasureError[T tensor.Float](mr *tensor.Matrix[T]) ErrorStats {
	var s ErrorStats
	r, c := mr.Dims()
	if mr.Stride == c { // contiguous: one sum, as forEach2 makes one kernel call
		r, c = 1, r*c
	}
	for i := 0; i < r; i++ {
		row := mr.Data[i*mr.Stride : i*mr.Stride+c]
		for _, v := range row {
			s.add(math.Abs(float64(v)), 0, 0)
		}
		if is32[T]() {
			s.Squares += vmath.SumSquares32(as32(row))
		} else {
			s.Squares += vmath.SumSquares(as64(row))
		}
	}
	return s
}

// predictionError and fixedPredictionErrorStep are the two rules and their maxima, with
// op naming the caller in shape errors.
func predictionError[T tensor.Float](op string, e, x, p *tensor.Matrix[T]) ErrorStats {
	r, c := x.Dims()
	mustShape(op, "prediction", p, r, c)
	mustShape(op, "error", e, r, c)
	var s ErrorStats
	forEach3(op, e, x, p, func(e, x, p []T) {
		if is32[T]() {
			s.add(vmath.DiffMax32(as32(e), as32(x), as32(p)))
		} else {
			s.add(vmath.DiffMax(as64(e), as64(x), as64(p)))
		}
	})
	return s
}

// fixedPredictionErrorStep rounds gamma to T inside vmath's float32 kernel.
func fixedPredictionErrorStep[T tensor.Float](op string, e, jte *tensor.Matrix[T], gamma float64) ErrorStats {
	var s ErrorStats
	forEach2(op, e, jte, func(e, j []T) {
		if is32[T]() {
			s.add(vmath.StepMax32(as32(e), as32(j), gamma))
		} else {
			s.add(vmath.StepMax(as64(e), as64(j), gamma))
		}
	})
	return s
}

// add combines the figures of one row (or of the whole matrix, when it is contiguous)
// into s. The maxima are non-negative or NaN, so comparing bit patterns orders them and
// lets a NaN win; the rows' sums of squares are added in row order.
func (s *ErrorStats) add(size, change, squares float64) {
	if math.Float64bits(size) > math.Float64bits(s.Size) {
		s.Size = size
	}
	if math.Float64bits(change) > math.Float64bits(s.Change) {
		s.Change = change
	}
	s.Squares += squares
}
