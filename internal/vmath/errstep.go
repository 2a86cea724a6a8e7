package vmath

import (
	"fmt"
	"math"
)

// StepMax sets e[i] = e[i] - gamma·(e[i] - j[i]) and returns max|e[i]| of the new values,
// max|gamma·(e[i] - j[i])|, the largest step, and Σ e[i]² of the new values. It is
// FPA-PC's error step with the three figures an observer reports, in one pass over the
// data.
//
// The arithmetic is the plain loop's, operation for operation (no fused multiply-add), so
// the new e is bit-identical to that of `e[i] -= gamma * (e[i] - j[i])`. A NaN anywhere
// in the new values or the steps makes the corresponding maximum NaN, and an infinite one
// makes it +Inf. The sum of squares is added in the order SumSquares documents, on every
// path. StepMax panics if len(j) != len(e).
func StepMax(e, j []float64, gamma float64) (size, change, squares float64) {
	checkSame("StepMax", e, j)
	var sq squareSum
	ms, mc := stepMax(e, j, gamma, &sq)
	return math.Float64frombits(ms), math.Float64frombits(mc), sq.total()
}

// DiffMax sets e[i] = x[i] - p[i] and returns max|e[i]| of the new values,
// max|e_new[i] - e_old[i]|, the largest change, and Σ e[i]² of the new values, with the
// same NaN, infinity and summation rules as StepMax. It panics unless x and p have the
// length of e.
func DiffMax(e, x, p []float64) (size, change, squares float64) {
	checkSame("DiffMax", e, x)
	checkSame("DiffMax", e, p)
	var sq squareSum
	ms, mc := diffMax(e, x, p, &sq)
	return math.Float64frombits(ms), math.Float64frombits(mc), sq.total()
}

// SetMax sets e[i] = c[i] + 0, FPA-PC's error at gamma = 1 (the cotangent itself, a -0
// made +0 as e - 1·(e - c) makes it in exact arithmetic), and returns max|e|, the largest
// |e_old - c| and Σe², as DiffMax does. It panics if len(c) != len(e).
func SetMax(e, c []float64) (size, change, squares float64) {
	checkSame("SetMax", e, c)
	var sq squareSum
	ms, mc := setMax(e, c, &sq)
	return math.Float64frombits(ms), math.Float64frombits(mc), sq.total()
}

// SumSquares returns Σ v[i]², added in the order of StepMax and DiffMax, so that it gives
// their sum bit for bit: element i of the first len(v) &^ 7 goes to lane i mod 8 (each
// square rounded, then added), the lanes are folded as ((0+1)+(2+3))+((4+5)+(6+7)), and
// the remaining elements are added to that in order. The fixed order, not the vector
// width, defines the result, which is why the Go and assembly paths agree.
func SumSquares(v []float64) float64 {
	var sq squareSum
	n := len(v) &^ 7
	for i := 0; i < n; i += 8 {
		b := v[i : i+8 : i+8]
		for k, x := range b {
			sq.lane[k] += float64(x * x)
		}
	}
	sq.addTail(v[n:])
	return sq.total()
}

func checkSame(fn string, e, o []float64) {
	if len(o) != len(e) {
		panic(fmt.Sprintf("vmath: %s: operand length %d, want len(e) = %d", fn, len(o), len(e)))
	}
}

// squareSum is a sum of squares in the kernels' order (see SumSquares): lane holds the
// vector part, which the assembly kernels write, and the tail is added in Go.
type squareSum struct {
	lane [8]float64
	tail []float64 // the elements after the vector part, fewer than 8
}

func (s *squareSum) addTail(v []float64) { s.tail = v }

func (s *squareSum) total() float64 {
	l := &s.lane
	sum := ((l[0] + l[1]) + (l[2] + l[3])) + ((l[4] + l[5]) + (l[6] + l[7]))
	for _, x := range s.tail {
		sum += float64(x * x)
	}
	return sum
}

// The maxima are kept as the bit patterns of |v| (v's bits with the sign cleared): for
// non-negative floats the integer order is the numeric order, +Inf lies above every
// finite value and every NaN above +Inf, so NaN and Inf need no separate test and the
// comparison has no floating-point dependency chain.
const absBits = 1<<63 - 1

// stepMaxGeneric is StepMax in Go: blocks of eight, each element's square into its lane
// (the assembly kernel's order), and four independent maxima per figure so that the loop
// does not wait on one chain. The tail is left in sq for total to add.
func stepMaxGeneric(e, j []float64, gamma float64, sq *squareSum) (size, change uint64) {
	var em, dm [4]uint64
	j = j[:len(e)]
	n := len(e) &^ 7
	for i := 0; i < n; i += 8 {
		x, y := e[i:i+8:i+8], j[i:i+8:i+8]
		for k := range 8 {
			// float64() rounds each product, so no compiler fuses it into the subtraction.
			d := float64(gamma * (x[k] - y[k]))
			v := x[k] - d
			x[k] = v
			sq.lane[k] += float64(v * v)
			em[k&3] = max(em[k&3], math.Float64bits(v)&absBits)
			dm[k&3] = max(dm[k&3], math.Float64bits(d)&absBits)
		}
	}
	for i := n; i < len(e); i++ {
		d := float64(gamma * (e[i] - j[i]))
		v := e[i] - d
		e[i] = v
		em[0] = max(em[0], math.Float64bits(v)&absBits)
		dm[0] = max(dm[0], math.Float64bits(d)&absBits)
	}
	sq.addTail(e[n:])
	return max(em[0], em[1], em[2], em[3]), max(dm[0], dm[1], dm[2], dm[3])
}

// diffMaxGeneric is DiffMax in Go, in stepMaxGeneric's order.
func diffMaxGeneric(e, x, p []float64, sq *squareSum) (size, change uint64) {
	var em, dm [4]uint64
	x, p = x[:len(e)], p[:len(e)]
	n := len(e) &^ 7
	for i := 0; i < n; i += 8 {
		eb, xb, pb := e[i:i+8:i+8], x[i:i+8:i+8], p[i:i+8:i+8]
		for k := range 8 {
			v := xb[k] - pb[k]
			d := v - eb[k]
			eb[k] = v
			sq.lane[k] += float64(v * v)
			em[k&3] = max(em[k&3], math.Float64bits(v)&absBits)
			dm[k&3] = max(dm[k&3], math.Float64bits(d)&absBits)
		}
	}
	for i := n; i < len(e); i++ {
		v := x[i] - p[i]
		d := v - e[i]
		e[i] = v
		em[0] = max(em[0], math.Float64bits(v)&absBits)
		dm[0] = max(dm[0], math.Float64bits(d)&absBits)
	}
	sq.addTail(e[n:])
	return max(em[0], em[1], em[2], em[3]), max(dm[0], dm[1], dm[2], dm[3])
}

func setMaxGeneric(e, c []float64, sq *squareSum) (size, change uint64) {
	var em, dm [4]uint64
	c = c[:len(e)]
	n := len(e) &^ 7
	for i := 0; i < n; i += 8 {
		eb, cb := e[i:i+8:i+8], c[i:i+8:i+8]
		for k := range 8 {
			v := cb[k]
			d := eb[k] - v
			v += 0
			eb[k] = v
			sq.lane[k] += float64(v * v)
			em[k&3] = max(em[k&3], math.Float64bits(v)&absBits)
			dm[k&3] = max(dm[k&3], math.Float64bits(d)&absBits)
		}
	}
	for i := n; i < len(e); i++ {
		v := c[i]
		d := e[i] - v
		v += 0
		e[i] = v
		em[0] = max(em[0], math.Float64bits(v)&absBits)
		dm[0] = max(dm[0], math.Float64bits(d)&absBits)
	}
	sq.addTail(e[n:])
	return max(em[0], em[1], em[2], em[3]), max(dm[0], dm[1], dm[2], dm[3])
}
