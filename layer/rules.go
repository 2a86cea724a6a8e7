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
// write, measured in the same pass so that an observed network pays little for watching.
// The maxima are taken over the bit patterns of |v|: for non-negative floats the integer
// order is the numeric order, with +Inf above every finite value and NaN above +Inf, so a
// NaN or infinite value shows in the result without a floating-point dependency chain
// (which made a first version ten times slower than the rule itself).

const signBit = 1 << 63

// PredictionErrorStats is PredictionError that also returns max|e_new| and
// max|e_new - e_old|, where e_old is e's content on entry.
func PredictionErrorStats(e, x, p *mat.Dense) (size, change float64) {
	r, c := x.Dims()
	mustShape("PredictionErrorStats", "prediction", p, r, c)
	mustShape("PredictionErrorStats", "error", e, r, c)
	er, xr, pr := raw(e), raw(x), raw(p)
	var maxE, maxD uint64
	for i := 0; i < r; i++ {
		ev := er.Data[i*er.Stride : i*er.Stride+c]
		xv := xr.Data[i*xr.Stride : i*xr.Stride+c][:len(ev)]
		pv := pr.Data[i*pr.Stride : i*pr.Stride+c][:len(ev)]
		for j, old := range ev {
			v := xv[j] - pv[j]
			ev[j] = v
			maxE = max(maxE, math.Float64bits(v)&^signBit)
			maxD = max(maxD, math.Float64bits(v-old)&^signBit)
		}
	}
	return math.Float64frombits(maxE), math.Float64frombits(maxD)
}

// FixedPredictionErrorStepStats is FixedPredictionErrorStep that also returns max|e_new|
// and max|gamma (e - jte)|, the size of the step.
func FixedPredictionErrorStepStats(e, jte *mat.Dense, gamma float64) (size, change float64) {
	r, c := e.Dims()
	mustShape("FixedPredictionErrorStepStats", "operand", jte, r, c)
	er, jr := raw(e), raw(jte)
	// Four independent maxima per quantity keep the loop from waiting on one chain.
	var e0, e1, e2, e3, d0, d1, d2, d3 uint64
	for i := 0; i < r; i++ {
		ev := er.Data[i*er.Stride : i*er.Stride+c]
		jv := jr.Data[i*jr.Stride : i*jr.Stride+c][:len(ev)]
		j := 0
		for ; j+4 <= len(ev); j += 4 {
			x, y := ev[j:j+4:j+4], jv[j:j+4:j+4]
			da, db, dc, dd := gamma*(x[0]-y[0]), gamma*(x[1]-y[1]), gamma*(x[2]-y[2]), gamma*(x[3]-y[3])
			va, vb, vc, vd := x[0]-da, x[1]-db, x[2]-dc, x[3]-dd
			x[0], x[1], x[2], x[3] = va, vb, vc, vd
			e0, e1 = max(e0, math.Float64bits(va)&^signBit), max(e1, math.Float64bits(vb)&^signBit)
			e2, e3 = max(e2, math.Float64bits(vc)&^signBit), max(e3, math.Float64bits(vd)&^signBit)
			d0, d1 = max(d0, math.Float64bits(da)&^signBit), max(d1, math.Float64bits(db)&^signBit)
			d2, d3 = max(d2, math.Float64bits(dc)&^signBit), max(d3, math.Float64bits(dd)&^signBit)
		}
		for ; j < len(ev); j++ {
			d := gamma * (ev[j] - jv[j])
			v := ev[j] - d
			ev[j] = v
			e0 = max(e0, math.Float64bits(v)&^signBit)
			d0 = max(d0, math.Float64bits(d)&^signBit)
		}
	}
	return math.Float64frombits(max(e0, e1, e2, e3)), math.Float64frombits(max(d0, d1, d2, d3))
}
