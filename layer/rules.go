package layer

import "gonum.org/v1/gonum/mat"

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
