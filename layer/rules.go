package layer

import (
	"math"

	"gonum.org/v1/gonum/mat"
)

// The inference rules of the predictive-coding variants, one node at a time. They work on
// whole matrices of the same shape (B x n) and never allocate. jte is always the input
// VJP Jᵀ(π e) of the layer above, already computed by Dense.InputVJP.

// PredictionError writes e = x - p: the error of a node at state x under prediction p.
func PredictionError(e, x, p *mat.Dense) {
	r, c := x.Dims()
	mustShape("PredictionError", "prediction", p, r, c)
	mustShape("PredictionError", "error", e, r, c)
	e.Sub(x, p)
}

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
func FixedPredictionErrorStep(e, jte *mat.Dense, gamma float64) {
	forEach2("FixedPredictionErrorStep", e, jte, func(e, j []float64) {
		for i := range e {
			e[i] -= gamma * (e[i] - j[i])
		}
	})
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
	for i := 0; i < r; i++ {
		f(ar.Data[i*ar.Stride:i*ar.Stride+c], br.Data[i*br.Stride:i*br.Stride+c])
	}
}

func forEach3(op string, a, b, d *mat.Dense, f func(a, b, d []float64)) {
	r, c := a.Dims()
	mustShape(op, "operand", b, r, c)
	mustShape(op, "operand", d, r, c)
	ar, br, dr := raw(a), raw(b), raw(d)
	for i := 0; i < r; i++ {
		f(ar.Data[i*ar.Stride:i*ar.Stride+c], br.Data[i*br.Stride:i*br.Stride+c], dr.Data[i*dr.Stride:i*dr.Stride+c])
	}
}

// The ...Stats forms of the rules below also return max|e| and max|Δe| of the error they
// write, measured in the same pass so that an observed network pays little for watching
// (a separate pass over e costs as much as the rule). A NaN or infinite value makes both
// results NaN.

// PredictionErrorStats is PredictionError that also returns max|e_new| and
// max|e_new - e_old|, where e_old is e's content on entry.
func PredictionErrorStats(e, x, p *mat.Dense) (size, change float64) {
	r, c := x.Dims()
	mustShape("PredictionErrorStats", "prediction", p, r, c)
	mustShape("PredictionErrorStats", "error", e, r, c)
	er, xr, pr := raw(e), raw(x), raw(p)
	var bad float64
	for i := 0; i < r; i++ {
		ev := er.Data[i*er.Stride : i*er.Stride+c]
		xv := xr.Data[i*xr.Stride : i*xr.Stride+c][:len(ev)]
		pv := pr.Data[i*pr.Stride : i*pr.Stride+c][:len(ev)]
		s, ch, b := size, change, bad
		for j, old := range ev {
			v := xv[j] - pv[j]
			ev[j] = v
			a, d := math.Abs(v), math.Abs(v-old)
			if a > s {
				s = a
			}
			if d > ch {
				ch = d
			}
			b += d - d // NaN when d is NaN or infinite
		}
		size, change, bad = s, ch, b
	}
	return size + bad, change + bad
}

// FixedPredictionErrorStepStats is FixedPredictionErrorStep that also returns max|e_new|
// and max|gamma (e - jte)|, the size of the step.
func FixedPredictionErrorStepStats(e, jte *mat.Dense, gamma float64) (size, change float64) {
	r, c := e.Dims()
	mustShape("FixedPredictionErrorStepStats", "operand", jte, r, c)
	er, jr := raw(e), raw(jte)
	var bad float64
	for i := 0; i < r; i++ {
		ev := er.Data[i*er.Stride : i*er.Stride+c]
		jv := jr.Data[i*jr.Stride : i*jr.Stride+c][:len(ev)]
		s, ch, b := size, change, bad
		for j, x := range ev {
			d := gamma * (x - jv[j])
			v := x - d
			ev[j] = v
			a, ad := math.Abs(v), math.Abs(d)
			if a > s {
				s = a
			}
			if ad > ch {
				ch = ad
			}
			b += ad - ad
		}
		size, change, bad = s, ch, b
	}
	return size + bad, change + bad
}
