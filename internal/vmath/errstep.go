package vmath

import (
	"fmt"
	"math"
)

// StepMax sets e[i] = e[i] - gamma·(e[i] - j[i]) and returns max|e[i]| of the new values
// and max|gamma·(e[i] - j[i])|, the largest step. It is FPA-PC's error step with the two
// figures an observer reports, in one pass over the data.
//
// The arithmetic is the plain loop's, operation for operation (no fused multiply-add), so
// the new e is bit-identical to that of `e[i] -= gamma * (e[i] - j[i])`. A NaN anywhere
// in the new values or the steps makes the corresponding maximum NaN, and an infinite one
// makes it +Inf. StepMax panics if len(j) != len(e).
func StepMax(e, j []float64, gamma float64) (size, change float64) {
	checkSame("StepMax", e, j)
	ms, mc := stepMax(e, j, gamma)
	return math.Float64frombits(ms), math.Float64frombits(mc)
}

// DiffMax sets e[i] = x[i] - p[i] and returns max|e[i]| of the new values and
// max|e_new[i] - e_old[i]|, the largest change, with the same NaN and infinity rules as
// StepMax. It panics unless x and p have the length of e.
func DiffMax(e, x, p []float64) (size, change float64) {
	checkSame("DiffMax", e, x)
	checkSame("DiffMax", e, p)
	ms, mc := diffMax(e, x, p)
	return math.Float64frombits(ms), math.Float64frombits(mc)
}

func checkSame(fn string, e, o []float64) {
	if len(o) != len(e) {
		panic(fmt.Sprintf("vmath: %s: operand length %d, want len(e) = %d", fn, len(o), len(e)))
	}
}

// The maxima are kept as the bit patterns of |v| (v's bits with the sign cleared): for
// non-negative floats the integer order is the numeric order, +Inf lies above every
// finite value and every NaN above +Inf, so NaN and Inf need no separate test and the
// comparison has no floating-point dependency chain.
const absBits = 1<<63 - 1

// stepMaxGeneric is StepMax in Go, with four independent maxima per figure so that the
// loop does not wait on one chain.
func stepMaxGeneric(e, j []float64, gamma float64) (size, change uint64) {
	var e0, e1, e2, e3, d0, d1, d2, d3 uint64
	j = j[:len(e)]
	i := 0
	for ; i+4 <= len(e); i += 4 {
		x, y := e[i:i+4:i+4], j[i:i+4:i+4]
		// float64() rounds each product, so no compiler fuses it into the subtraction.
		da, db := float64(gamma*(x[0]-y[0])), float64(gamma*(x[1]-y[1]))
		dc, dd := float64(gamma*(x[2]-y[2])), float64(gamma*(x[3]-y[3]))
		va, vb, vc, vd := x[0]-da, x[1]-db, x[2]-dc, x[3]-dd
		x[0], x[1], x[2], x[3] = va, vb, vc, vd
		e0, e1 = max(e0, math.Float64bits(va)&absBits), max(e1, math.Float64bits(vb)&absBits)
		e2, e3 = max(e2, math.Float64bits(vc)&absBits), max(e3, math.Float64bits(vd)&absBits)
		d0, d1 = max(d0, math.Float64bits(da)&absBits), max(d1, math.Float64bits(db)&absBits)
		d2, d3 = max(d2, math.Float64bits(dc)&absBits), max(d3, math.Float64bits(dd)&absBits)
	}
	for ; i < len(e); i++ {
		d := float64(gamma * (e[i] - j[i]))
		v := e[i] - d
		e[i] = v
		e0 = max(e0, math.Float64bits(v)&absBits)
		d0 = max(d0, math.Float64bits(d)&absBits)
	}
	return max(e0, e1, e2, e3), max(d0, d1, d2, d3)
}

// diffMaxGeneric is DiffMax in Go.
func diffMaxGeneric(e, x, p []float64) (size, change uint64) {
	var e0, e1, d0, d1 uint64
	x, p = x[:len(e)], p[:len(e)]
	i := 0
	for ; i+2 <= len(e); i += 2 {
		va, vb := x[i]-p[i], x[i+1]-p[i+1]
		da, db := va-e[i], vb-e[i+1]
		e[i], e[i+1] = va, vb
		e0, e1 = max(e0, math.Float64bits(va)&absBits), max(e1, math.Float64bits(vb)&absBits)
		d0, d1 = max(d0, math.Float64bits(da)&absBits), max(d1, math.Float64bits(db)&absBits)
	}
	for ; i < len(e); i++ {
		v := x[i] - p[i]
		d := v - e[i]
		e[i] = v
		e0 = max(e0, math.Float64bits(v)&absBits)
		d0 = max(d0, math.Float64bits(d)&absBits)
	}
	return max(e0, e1), max(d0, d1)
}
