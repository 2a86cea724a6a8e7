package layer

import (
	"math"

	"github.com/pcnet/pcnet/internal/vmath"
	"gonum.org/v1/gonum/mat"
)

// The inference rules of the predictive-coding variants, one node at a time. They work on
// whole matrices of the same shape (B x n) and never allocate. jte is always the input
// VJP Jᵀ(π e) of the layer above, already computed by Dense.InputVJP.

// PredictionError writes e = x - p: the error of a node at state x under prediction p.
// It is PredictionErrorStats with the maxima dropped: they cost nothing measurable next to
// the memory traffic, and one kernel keeps a watched and an unwatched network identical.
func PredictionError(e, x, p *mat.Dense) { predictionError("PredictionError", e, x, p) }

// StateStep integrates the state of a node under standard (variational) PC, Z-IL and the
// variance-scaled limit: x <- x - gamma * (pi*e - jte).
func StateStep(x, e, jte *mat.Dense, pi, gamma float64) {
	forEach3("StateStep", x, e, jte, func(x, e, j []float64) {
		for i := range x {
			x[i] -= gamma * (pi*e[i] - j[i])
		}
	})
}

// FixedPredictionErrorStep integrates the error of a node under the fixed-prediction
// assumption (FPA-PC), where x = mu + e and the prediction mu is frozen:
// e <- e - gamma * (e - jte). Integrating e, not x, keeps small errors from being rounded
// away against a large mu.
// It is FixedPredictionErrorStepStats with the maxima dropped, as PredictionError.
func FixedPredictionErrorStep(e, jte *mat.Dense, gamma float64) {
	fixedPredictionErrorStep("FixedPredictionErrorStep", e, jte, gamma)
}

// ScaleInto writes dst = s * src (the precision-weighted error π e sent downwards).
func ScaleInto(dst, src *mat.Dense, s float64) {
	forEach2("ScaleInto", dst, src, func(d, x []float64) {
		if s == 1 {
			copy(d, x)
			return
		}
		for i := range d {
			d[i] = s * x[i]
		}
	})
}

func forEach2(op string, a, b *mat.Dense, f func(a, b []float64)) {
	r, c := a.Dims()
	mustShape(op, "operand", b, r, c)
	ar, br := raw(a), raw(b)
	if ar.Stride == c && br.Stride == c { // contiguous: one call, one vector loop
		f(ar.Data[:r*c], br.Data[:r*c])
		return
	}
	for i := 0; i < r; i++ {
		f(ar.Data[i*ar.Stride:i*ar.Stride+c], br.Data[i*br.Stride:i*br.Stride+c])
	}
}

func forEach3(op string, a, b, d *mat.Dense, f func(a, b, d []float64)) {
	r, c := a.Dims()
	mustShape(op, "operand", b, r, c)
	mustShape(op, "operand", d, r, c)
	ar, br, dr := raw(a), raw(b), raw(d)
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
func PredictionErrorStats(e, x, p *mat.Dense) ErrorStats {
	return predictionError("PredictionErrorStats", e, x, p)
}

// FixedPredictionErrorStepStats is FixedPredictionErrorStep that also returns the
// ErrorStats of the new e, with Change max|gamma (e - jte)|, the size of the step.
func FixedPredictionErrorStepStats(e, jte *mat.Dense, gamma float64) ErrorStats {
	return fixedPredictionErrorStep("FixedPredictionErrorStepStats", e, jte, gamma)
}

// ErrorStats are the figures of an error matrix that an observer reports.
type ErrorStats struct {
	Size    float64 // max|e|
	Change  float64 // max|Δe| of the rule that formed e (0 from MeasureError)
	Squares float64 // Σe² over every element, in the order of vmath.SumSquares per row
}

// MeasureError returns max|e| and Σe² of m, as the Stats rules measure them (a NaN
// anywhere makes the maximum NaN; the squares are summed row by row in the kernels'
// order): for an error no rule formed, such as FPA's e_l(0), so that what is reported is
// the buffer's content rather than what it ought to hold.
func MeasureError(m *mat.Dense) ErrorStats {
	var s ErrorStats
	r, c := m.Dims()
	mr := raw(m)
	if mr.Stride == c { // contiguous: one sum, as forEach2 makes one kernel call
		r, c = 1, r*c
	}
	for i := 0; i < r; i++ {
		row := mr.Data[i*mr.Stride : i*mr.Stride+c]
		for _, v := range row {
			s.add(math.Abs(v), 0, 0)
		}
		s.Squares += vmath.SumSquares(row)
	}
	return s
}

// predictionError and fixedPredictionErrorStep are the two rules and their maxima, with
// op naming the caller in shape errors.
func predictionError(op string, e, x, p *mat.Dense) ErrorStats {
	r, c := x.Dims()
	mustShape(op, "prediction", p, r, c)
	mustShape(op, "error", e, r, c)
	var s ErrorStats
	forEach3(op, e, x, p, func(e, x, p []float64) { s.add(vmath.DiffMax(e, x, p)) })
	return s
}

func fixedPredictionErrorStep(op string, e, jte *mat.Dense, gamma float64) ErrorStats {
	var s ErrorStats
	forEach2(op, e, jte, func(e, j []float64) { s.add(vmath.StepMax(e, j, gamma)) })
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
