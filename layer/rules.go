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
// write, measured in the same pass (by vmath's kernels, vectorised on amd64) so that an
// observed network pays little for watching. A NaN anywhere makes the maximum NaN, an
// infinity makes it +Inf.

// PredictionErrorStats is PredictionError that also returns max|e_new| and
// max|e_new - e_old|, where e_old is e's content on entry.
func PredictionErrorStats(e, x, p *mat.Dense) (size, change float64) {
	return predictionError("PredictionErrorStats", e, x, p)
}

// FixedPredictionErrorStepStats is FixedPredictionErrorStep that also returns max|e_new|
// and max|gamma (e - jte)|, the size of the step.
func FixedPredictionErrorStepStats(e, jte *mat.Dense, gamma float64) (size, change float64) {
	return fixedPredictionErrorStep("FixedPredictionErrorStepStats", e, jte, gamma)
}

// MaxAbs returns max|v| over the elements of m, as the Stats rules measure it (a NaN
// anywhere makes it NaN): for an error no rule formed, such as FPA's e_l(0), so that
// what is reported is the buffer's content rather than what it ought to hold.
func MaxAbs(m *mat.Dense) float64 {
	var mx maxima
	r, c := m.Dims()
	mr := raw(m)
	for i := 0; i < r; i++ {
		for _, v := range mr.Data[i*mr.Stride : i*mr.Stride+c] {
			mx.add(math.Abs(v), 0)
		}
	}
	return mx.size
}

// predictionError and fixedPredictionErrorStep are the two rules and their maxima, with
// op naming the caller in shape errors.
func predictionError(op string, e, x, p *mat.Dense) (size, change float64) {
	r, c := x.Dims()
	mustShape(op, "prediction", p, r, c)
	mustShape(op, "error", e, r, c)
	var m maxima
	forEach3(op, e, x, p, func(e, x, p []float64) { m.add(vmath.DiffMax(e, x, p)) })
	return m.size, m.change
}

func fixedPredictionErrorStep(op string, e, jte *mat.Dense, gamma float64) (size, change float64) {
	var m maxima
	forEach2(op, e, jte, func(e, j []float64) { m.add(vmath.StepMax(e, j, gamma)) })
	return m.size, m.change
}

// maxima combines the row maxima of a Stats rule. The values are non-negative or NaN, so
// comparing bit patterns orders them and lets a NaN win.
type maxima struct{ size, change float64 }

func (m *maxima) add(size, change float64) {
	if math.Float64bits(size) > math.Float64bits(m.size) {
		m.size = size
	}
	if math.Float64bits(change) > math.Float64bits(m.change) {
		m.change = change
	}
}
